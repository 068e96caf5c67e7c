"""``--set PATH=VALUE`` overrides: dotted paths into spec data, list entries by name or index."""

from __future__ import annotations

import re
from typing import Any, Sequence

from kerun.errors import Location, SpecError, format_path
from kerun.spec.loader import Document, Path_, _parse_events

__all__ = ["apply_overrides", "replace_value", "resolve_path", "split_dotted"]

def split_dotted(path: str) -> list[str]:
    """``model.layers.out.units`` -> parts; ``a.b[2]`` is accepted as ``a.b.2``."""
    path = re.sub(r"\[(\d+)\]", r".\1", path.strip())
    return [p for p in path.split(".")]


def resolve_path(data: Any, dotted: str, *, create: bool = False) -> tuple[Path_, Any]:
    """Find a dotted path in spec data, list entries by index or by their ``name``.

    Returns the concrete path (indices for list entries) and the parent container. Raises
    ``KeyError`` with a helpful message when a part does not exist.
    """
    parts = split_dotted(dotted)
    if not parts or any(p == "" for p in parts):
        raise KeyError(f"{dotted!r} is not a dotted path like 'train.epochs'")
    node = data
    concrete: list[str | int] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            idx = _list_index(node, part)
            if idx is None:
                names = [e["name"] for e in node if isinstance(e, dict) and isinstance(e.get("name"), str) and e["name"]]
                from kerun.spec.suggest import nearest

                near = nearest(part, names)
                raise KeyError(
                    f"{format_path(concrete) or 'the spec'} has no entry {part!r}"
                    + (f"; did you mean {near!r}?" if near else f"; entries are named {names}" if names else "")
                )
            concrete.append(idx)
            if last:
                return tuple(concrete), node
            node = node[idx]
        elif isinstance(node, dict):
            key: str | int = part
            if part not in node and part.isdigit() and int(part) in node:
                key = int(part)
            concrete.append(key)
            if last:
                return tuple(concrete), node
            if key not in node:
                if not create:
                    from kerun.spec.suggest import nearest

                    near = nearest(part, [str(k) for k in node])
                    raise KeyError(
                        f"{format_path(concrete[:-1]) or 'the spec'} has no key {part!r}"
                        + (f"; did you mean {near!r}?" if near else "")
                    )
                node[key] = {}
            node = node[key]
        else:
            raise KeyError(f"{format_path(concrete)} is a single value, it has no {part!r}")
    raise AssertionError("unreachable")


def _list_index(node: list[Any], part: str) -> int | None:
    for idx, entry in enumerate(node):
        if isinstance(entry, dict) and entry.get("name") == part:
            return idx
    if re.fullmatch(r"-?\d+", part):
        idx = int(part)
        if -len(node) <= idx < len(node):
            return idx % len(node)
    return None


def replace_value(doc: Document, path: Path_, value: Any, values: dict[Path_, Location], keys: dict[Path_, Location]) -> None:
    """Put ``value`` at the concrete ``path`` (its parent exists); its positions (relative to
    ``path``) replace whatever was known below ``path``."""
    parent: Any = doc.data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    n = len(path)
    for table, new in ((doc.values, values), (doc.keys, keys)):
        for p in [p for p in table if p[:n] == path]:
            del table[p]
        for sub, loc in new.items():
            table[path + sub] = loc


def apply_overrides(doc: Document, overrides: Sequence[str]) -> Document:
    """Apply ``PATH=VALUE`` overrides in order; the value is read as YAML."""
    for text in overrides:
        origin = f"--set {text}"
        if "=" not in text:
            raise SpecError(
                f"an override is PATH=VALUE, got {text!r}",
                location=Location(origin),
                hint="for example --set train.epochs=3 or --set compile.optimizer.learning_rate=1e-4",
            )
        dotted, raw = text.split("=", 1)
        value = _parse_events(raw, origin).data if raw.strip() else None
        try:
            path, _parent = resolve_path(doc.data, dotted, create=True)
        except KeyError as exc:
            raise SpecError(str(exc.args[0]), location=Location(origin)) from None
        replace_value(doc, path, value, {(): Location(origin)}, {})
    return doc
