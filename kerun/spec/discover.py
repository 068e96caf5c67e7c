"""Which files of a folder are specs: ``kerun validate DIR`` and ``kerun check DIR`` take every
``*.yaml``/``*.yml`` file below the folder whose top level is a mapping with ``model:`` or
``extends:``. Other YAML files kept beside specs (a data-source description, a CI config, a base
holding only ``data:``) are named as skipped, not reported as broken specs. A file given by name
is always a spec; so is a folder's file that is not valid YAML, so that its error is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kerun.errors import SpecError

__all__ = ["Found", "SPEC_KEYS", "find_specs"]

SPEC_KEYS = ("model", "extends")  # a spec has its own model, or one from the spec it extends


@dataclass
class Found:
    specs: list[Path]
    skipped: list[tuple[Path, str]]  # (file, why it is not a spec)


def _why_not_a_spec(path: Path) -> str | None:
    from kerun.spec.loader import load_document

    try:
        data = load_document(path).data
    except SpecError:
        return None  # broken YAML: a spec with a problem to report
    if not isinstance(data, dict):
        return None
    if any(key in data for key in SPEC_KEYS):
        return None
    keys = ", ".join(f"{k}:" for k in list(data)[:3]) or "nothing"
    return f"not a spec: it has {keys} but no model: or extends:"


def find_specs(paths: list[Path]) -> Found:
    """Files as given; folders become the spec files below them, sorted."""
    found = Found([], [])
    for p in paths:
        if not p.is_dir():
            found.specs.append(p)
            continue
        for q in sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()):
            why = _why_not_a_spec(q)
            if why is None:
                found.specs.append(q)
            else:
                found.skipped.append((q, why))
    return found
