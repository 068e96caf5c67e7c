"""``extends:`` and ``set:``: a spec built on others (spec format 1.1).

Order: the bases (each composed the same way, recursively; later bases over earlier ones), then
the file's own keys merged in (mappings key by key; scalars and lists replace), then its ``set:``
(dotted paths, addressed as ``--set`` addresses them), then ``--set`` on the command line (applied
by the caller). Every value keeps the :class:`~kerun.errors.Location` where it was written; a value
from a base carries a note naming the spec(s) that extended it. Relative paths written in a base
(data files, plugin files, initial weights) are made absolute against the base's folder, so the
composed spec, and the run folder's copy of it, reads the files the base meant.

Everything here is plain data and YAML: no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from kerun.errors import Location, Problem, SpecError
from kerun.spec.loader import Document, Path_, copy_plain, load_document
from kerun.spec.overrides import replace_value, resolve_path
from kerun.spec.paths import absolute_paths
from kerun.spec.suggest import did_you_mean

__all__ = ["COMPOSE_KEYS", "compose", "load_composed"]

COMPOSE_KEYS = ("extends", "set")
MAX_BASES = 64


def load_composed(path: str | Path) -> Document:
    """Read a spec file and resolve its ``extends:`` and ``set:``."""
    return compose(load_document(path), Path(path))


def compose(doc: Document, path: Path, _chain: tuple[Path, ...] = ()) -> Document:
    """``doc`` (read from ``path``) with its bases merged under it and its ``set:`` applied."""
    data = doc.data
    if not isinstance(data, dict) or not any(k in data for k in COMPOSE_KEYS):
        return doc
    chain = _chain or (Path(os.path.abspath(path)),)
    result: Document | None = None
    for rel, where in _base_entries(doc):
        base = _base_document(rel, where, doc, path, chain)
        result = base if result is None else _merge(result, base)
    own = _without(doc, COMPOSE_KEYS)
    result = own if result is None else _merge(result, own)
    result.file = doc.file
    if "set" in data:
        _apply_set(result, doc)
    return result


# ---------------------------------------------------------------------------------------------
# extends


def _base_entries(doc: Document) -> list[tuple[str, Path_]]:
    if "extends" not in doc.data:
        return []
    value = doc.data["extends"]
    if isinstance(value, str):
        items: list[tuple[Any, Path_]] = [(value, ("extends",))]
    elif isinstance(value, list) and value:
        items = [(v, ("extends", i)) for i, v in enumerate(value)]
    else:
        raise SpecError.from_problems([doc.problem(("extends",), "expected a spec file or a list of them",
                                                   hint="for example extends: base.yaml, or extends: [base.yaml, wide.yaml]")])
    for v, where in items:
        if not isinstance(v, str) or not v.strip():
            raise SpecError.from_problems([doc.problem(where, f"expected the path of a spec file, got {v!r}")])
    if len(items) > MAX_BASES:
        raise SpecError.from_problems([doc.problem(("extends",), f"more than {MAX_BASES} bases")])
    return items  # type: ignore[return-value]


def _base_document(rel: str, where: Path_, doc: Document, path: Path, chain: tuple[Path, ...]) -> Document:
    """The base ``rel`` (relative to ``path``'s folder), composed, its positions noted as inherited."""
    at = doc.locate(where)
    file = Path(rel).expanduser()
    shown = Path(os.path.normpath(file if file.is_absolute() else path.parent / file))
    key = Path(os.path.abspath(shown))
    if key in chain:
        cycle = " -> ".join([*(os.path.basename(c) for c in chain[chain.index(key):]), os.path.basename(key)])
        raise SpecError.from_problems([doc.problem(where, f"a cycle of specs: {cycle}",
                                                   hint="a spec cannot build on itself; remove one of these extends")])
    if not key.is_file():
        folder = key.parent
        near = did_you_mean(key.name, [p.name for p in folder.glob("*.y*ml")]) if folder.is_dir() else None
        what = "is a folder, not a spec file" if key.is_dir() else "does not exist"
        raise SpecError.from_problems([doc.problem(where, f"the base spec {rel!r} {what} (looked for {shown})",
                                                   hint=near or "a base is a path relative to this spec's folder")])
    note = f"extended by {at}"
    try:
        base = compose(load_document(shown), shown, (*chain, key))
    except SpecError as exc:
        raise _noted(exc, note) from None
    _absolute_paths(base, key.parent)
    for table in (base.values, base.keys):
        for p, loc in table.items():
            table[p] = _with_note(loc, note)
    return base


def _with_note(loc: Location, note: str) -> Location:
    if loc.note and loc.note.startswith("inherited: "):
        return dataclasses.replace(loc, note=f"{loc.note}, then by {note[len('extended by '):]}")
    if loc.note:
        return dataclasses.replace(loc, note=f"{loc.note}; inherited: {note}")
    return dataclasses.replace(loc, note=f"inherited: {note}")


def _noted(exc: SpecError, note: str) -> SpecError:
    """An error inside a base, with the note of the spec that extended it."""
    problems = [dataclasses.replace(p, location=_with_note(p.location, note)) if p.location else p for p in exc.problems]
    return SpecError.from_problems(problems)


def _absolute_paths(doc: Document, folder: Path) -> None:
    """Relative file paths written in a base (data sources, plugin files, initial weights) made
    absolute against the base's folder."""
    absolute_paths(doc.data, folder)


# ---------------------------------------------------------------------------------------------
# merging


def _without(doc: Document, keys: tuple[str, ...]) -> Document:
    data = {k: v for k, v in doc.data.items() if k not in keys}
    values = {p: loc for p, loc in doc.values.items() if not (p and p[0] in keys)}
    kpos = {p: loc for p, loc in doc.keys.items() if not (p and p[0] in keys)}
    return Document(data=data, file=doc.file, values=values, keys=kpos)


def _merge(base: Document, own: Document) -> Document:
    """``own`` over ``base``: mappings merge key by key, anything else replaces."""
    replaced: set[Path_] = set()

    def merge(dst: dict[Any, Any], src: dict[Any, Any], path: Path_) -> None:
        for k, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(k), dict):
                merge(dst[k], v, path + (k,))
            else:
                dst[k] = copy_plain(v)
                replaced.add(path + (k,))

    data = base.data
    merge(data, own.data, ())

    def kept(p: Path_) -> bool:
        return not any(p[:n] in replaced for n in range(1, len(p) + 1))

    values = {p: loc for p, loc in base.values.items() if kept(p)}
    keys = {p: loc for p, loc in base.keys.items() if kept(p)}
    values.update(own.values)
    keys.update(own.keys)
    return Document(data=data, file=own.file, values=values, keys=keys)


# ---------------------------------------------------------------------------------------------
# set:


_SET_HINT = "set: changes what the bases (or this spec) hold; write a new key as a key of this spec instead"


def _apply_set(result: Document, doc: Document) -> None:
    """``set:`` of ``doc`` applied to the composed ``result``; a path that names nothing is an
    error at its line."""
    entries = doc.data["set"]
    if entries is None:
        return
    if not isinstance(entries, dict):
        raise SpecError.from_problems([doc.problem(("set",), "expected a mapping of dotted paths to values",
                                                   hint="for example set: {model.layers.hidden.units: 64, train.epochs: 5}")])
    problems: list[Problem] = []
    for dotted, value in entries.items():
        where = ("set", dotted)
        try:
            path, _parent = resolve_path(result.data, str(dotted))
        except KeyError as exc:
            problems.append(doc.problem(where, str(exc.args[0]), key=True, hint=_SET_HINT))
            continue
        n = len(where)
        values = {p[n:]: loc for p, loc in doc.values.items() if p[:n] == where}
        keys = {p[n:]: loc for p, loc in doc.keys.items() if p[:n] == where and len(p) > n}
        replace_value(result, path, copy_plain(value), values, keys)
        if where in doc.keys:
            result.keys[path] = doc.keys[where]
    if problems:
        raise SpecError.from_problems(problems)
