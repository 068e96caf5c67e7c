"""Reading and checking kerun specs, without TensorFlow.

``load_spec(path, overrides)`` reads a YAML file with positions, resolves ``extends:`` and ``set:``
(:mod:`kerun.spec.compose`), applies ``--set`` overrides, expands ``blocks:``
(:mod:`kerun.spec.blocks`), checks
the shape with pydantic and the names and graph against the committed Keras catalogue, and returns
a :class:`LoadedSpec`, or raises one :class:`~kerun.errors.SpecError` holding every problem found.
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from kerun.errors import SpecError
from kerun.spec.loader import Document, load_document, parse_document
from kerun.spec.blocks import expand_blocks
from kerun.spec.compose import compose
from kerun.spec.overrides import apply_overrides
from kerun.spec.root import KerunSpec

__all__ = ["KerunSpec", "LoadedSpec", "dump_yaml", "load_spec", "spec_from_text"]


@dataclass
class LoadedSpec:
    """A checked spec with where it came from and the data exactly as it will be used."""

    spec: KerunSpec
    doc: Document
    path: Path
    overrides: tuple[str, ...] = ()
    root: Path | None = None
    composed: Any = None
    """The data before ``blocks:`` were expanded (bases merged, ``set:`` and ``--set`` applied), when
    the spec has blocks; ``doc`` holds the expanded data that was checked and is built."""

    @property
    def base_dir(self) -> Path:
        """Paths in the spec are relative to the spec file's folder (for a run's copy of a spec,
        the folder of the spec it was copied from)."""
        return self.root if self.root is not None else self.path.resolve().parent

    @property
    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        stem = re.sub(r"[^a-z0-9._-]+", "-", self.path.stem.lower()).strip("-.") or "run"
        return stem

    @property
    def data(self) -> dict[str, Any]:
        """The spec as finally used, self-contained: no ``extends:`` or ``set:``, blocks kept (a run
        folder's spec.yaml; ``--set`` and sweeps address a block use's parameters in it)."""
        return self.composed if self.composed is not None else self.doc.data

    def self_contained(self) -> dict[str, Any]:
        """:attr:`data` with every relative file path made absolute (kerun.spec.paths): what a run
        folder keeps, so that ``kerun train RUN/spec.yaml`` trains it again from any folder."""
        from kerun.spec.paths import absolute_paths

        data = copy.deepcopy(self.data)
        absolute_paths(data, self.base_dir)
        return data

    def to_yaml(self) -> str:
        return dump_yaml(self.self_contained())

    def resolve(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.base_dir / p


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value that repeats is written again, never as an anchor (&id001) and alias


def _repr_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Strings that YAML 1.1 readers would take for booleans or numbers are quoted.
    from kerun.spec.loader import _resolve_plain

    quote = not isinstance(_resolve_plain(value), str) or value.lower() in ("yes", "no", "on", "off", "y", "n")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'" if quote else None)


_Dumper.add_representer(str, _repr_str)


def dump_yaml(data: Any) -> str:
    """YAML that kerun (and any YAML 1.1 reader) reads back to the same values."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)


def _resolve(doc: Document, path: Path, overrides: Sequence[str]) -> tuple[Document, Any]:
    """Bases, ``set:``, ``--set``, then blocks: the document to check, and the data before blocks."""
    doc = compose(doc, path)
    apply_overrides(doc, overrides)
    expanded = expand_blocks(doc)
    return expanded, (doc.data if expanded is not doc else None)


def _check(doc: Document, path: Path, overrides: Sequence[str], root: Path | None = None) -> LoadedSpec:
    from kerun.spec.check import check_spec
    from kerun.spec.problems import validate_structure

    doc, composed = _resolve(doc, path, overrides)
    spec, problems, broken = validate_structure(doc)
    if spec is not None:
        problems = problems + check_spec(spec, doc, root or path.resolve().parent, skip=broken)
    if problems:
        raise SpecError.from_problems(problems)
    assert spec is not None
    loaded = LoadedSpec(spec=spec, doc=doc, path=path, overrides=tuple(overrides), root=root, composed=composed)
    if spec.sweep is not None:  # a space that does not fit its method (a grid over a range) is refused now
        from kerun.spec.space import parse_space, variants

        for _ in variants(parse_space(loaded), spec.sweep.method):
            pass
    return loaded


def load_spec(path: str | Path, overrides: Sequence[str] = (), *, root: Path | None = None) -> LoadedSpec:
    """Read, override and check a spec file; raise :class:`SpecError` with every problem.

    ``root`` is the folder relative paths start from, when it is not the spec file's own (a run
    folder's copy of a spec points back to where the original was)."""
    if str(path) == STDIN:  # ``kerun validate -``: the spec on standard input, paths relative to the current folder
        return _check(parse_document(_stdin_text(), "<stdin>"), Path("<stdin>"), overrides, root)
    p = Path(path)
    return _check(load_document(p), p, overrides, root)


STDIN = "-"
"""The spec path that means standard input."""


_stdin_read: tuple[Any, str] | None = None


def _stdin_text() -> str:
    """Standard input, read once per stream: a command that loads its spec twice sees the same text."""
    global _stdin_read
    if _stdin_read is None or _stdin_read[0] is not sys.stdin:
        _stdin_read = (sys.stdin, sys.stdin.read())
    return _stdin_read[1]


def spec_from_text(text: str, file: str = "<spec>", overrides: Sequence[str] = ()) -> LoadedSpec:
    """Like :func:`load_spec` for text in memory (``file`` is used for locations and relative paths)."""
    return _check(parse_document(text, file), Path(file), overrides)
