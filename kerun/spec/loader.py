"""Safe YAML with a position for every node (``--set`` overrides are in :mod:`kerun.spec.overrides`).

The document is built from PyYAML's event stream (no recursion, no Python object construction):

- only the YAML 1.2 core schema is recognised: ``1e-4`` is a float, ``no``/``on`` are strings,
  ``true``/``false`` are booleans; any tag other than the standard ``!!str``, ``!!int``,
  ``!!float``, ``!!bool``, ``!!null``, ``!!map``, ``!!seq`` is refused, so no tag constructs an object;
- aliases are expanded under a budget of nodes, so an alias bomb is refused in milliseconds;
- nesting deeper than :data:`MAX_DEPTH` and duplicate keys are errors;
- the top level must be a mapping.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

from kerun.errors import Location, Problem, SpecError

__all__ = ["Document", "MAX_DEPTH", "MAX_NODES", "copy_plain", "load_document", "parse_document"]

MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_BYTES = 16 * 1024 * 1024

Path_ = tuple[str | int, ...]

_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_INT_OTHER = re.compile(r"^(0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN = re.compile(r"^\.(nan|NaN|NAN)$")
_SAFE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass
class Document:
    """Plain data read from YAML, with the position of every value and every mapping key.

    A position is a :class:`Location` with its own file: a spec composed from others
    (:mod:`kerun.spec.compose`) or with blocks expanded (:mod:`kerun.spec.blocks`) holds values
    from several files, and each is reported where it was written. ``sources`` maps a path of the
    data to the path where the user wrote it (an entry expanded from a block -> the block's entry),
    so messages name what the user can find in the file."""

    data: Any
    file: str
    values: dict[Path_, Location] = field(default_factory=dict)
    keys: dict[Path_, Location] = field(default_factory=dict)
    sources: dict[Path_, Path_] = field(default_factory=dict)

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> Location:
        """The location of ``path`` (its key when ``key``), or of its nearest known ancestor."""
        p = tuple(path)
        while True:
            mark = (self.keys.get(p) if key else None) or self.values.get(p)
            if mark is not None:
                return mark
            if not p:
                return Location(self.file)
            p = p[:-1]
            key = False

    def source_path(self, path: Sequence[str | int]) -> Path_:
        """``path`` as the user wrote it: through ``sources``, by its longest known prefix."""
        p = tuple(path)
        if self.sources:
            for n in range(len(p), 0, -1):
                src = self.sources.get(p[:n])
                if src is not None:
                    return src + p[n:]
        return p

    def problem(self, path: Sequence[str | int], message: str, *, hint: str | None = None, key: bool = False) -> Problem:
        return Problem(message=message, location=self.locate(path, key=key), path=self.source_path(path), hint=hint)


def _resolve_plain(value: str) -> Any:
    if value in ("", "~", "null", "Null", "NULL"):
        return None
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    if _INT.match(value):
        return int(value.replace("_", ""))
    if _INT_OTHER.match(value):
        return int(value, 0)
    if _FLOAT.match(value) and any(c.isdigit() for c in value):
        return float(value.replace("_", ""))
    if _INF.match(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN.match(value):
        return math.nan
    return value


def _explicit(tag: str, value: str, mark: Location, file: str) -> Any:
    try:
        if tag.endswith(":str"):
            return value
        if tag.endswith(":null"):
            return None
        resolved = _resolve_plain(value)
        if tag.endswith(":int") and isinstance(resolved, int) and not isinstance(resolved, bool):
            return resolved
        if tag.endswith(":float") and isinstance(resolved, (int, float)) and not isinstance(resolved, bool):
            return float(resolved)
        if tag.endswith(":bool") and isinstance(resolved, bool):
            return resolved
    except ValueError:
        pass
    raise SpecError(
        f"the value {value[:40]!r} is not a valid {tag.rsplit(':', 1)[-1]}",
        location=mark,
    )


class _Builder:
    """Turns PyYAML events into plain data and positions, expanding aliases under a budget."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.doc = Document(data=None, file=file)
        self.nodes = 0
        self.anchors: dict[str, tuple[Any, dict[Path_, Location]]] = {}

    def _mark(self, event: yaml.Event) -> Location:
        return Location(self.file, event.start_mark.line + 1, event.start_mark.column + 1)

    def _count(self, n: int, event: yaml.Event) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise SpecError(
                f"the document has more than {MAX_NODES} values once aliases are expanded",
                location=self._mark(event),
                hint="a spec this large is almost certainly an alias bomb; write the values out or use fewer aliases",
            )

    def build(self, events: Iterator[yaml.Event]) -> Document:
        # Stack of open containers: (container, path, pending_key, key_mark, anchor, start_index)
        stack: list[list[Any]] = []
        root_set = False
        docs = 0
        for event in events:
            if isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)):
                continue
            if isinstance(event, yaml.DocumentStartEvent):
                docs += 1
                if docs > 1:
                    raise SpecError(
                        "a spec file holds one YAML document, this one has several",
                        location=self._mark(event),
                        hint="remove the '---' separator and keep one spec per file",
                    )
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                container, path, _key, _kmark, anchor, _ = stack.pop()
                value = container
                self._remember(anchor, path, value)
                root_set = self._attach(stack, value, path, event) or root_set
                continue

            path = self._child_path(stack, event)
            mark = self._mark(event)
            if isinstance(event, yaml.AliasEvent):
                if event.anchor not in self.anchors:
                    raise SpecError(f"unknown alias *{event.anchor}", location=mark)
                value, marks = self.anchors[event.anchor]
                self._count(len(marks), event)
                value = copy_plain(value)
                base = marks.get((), mark)
                for sub, m in marks.items():
                    self.doc.values[path + sub] = m if sub else base
                self.doc.values[path] = mark
                root_set = self._attach(stack, value, path, event) or root_set
                continue

            self._count(1, event)
            tag = getattr(event, "tag", None)
            if tag and tag not in ("!", *_SAFE_TAGS):
                shown = tag.replace("tag:yaml.org,2002:", "!!")
                raise SpecError(
                    f"the YAML tag {shown!r} is not allowed",
                    location=mark,
                    hint="kerun reads plain YAML only; no tag may construct an object. Remove the tag.",
                )
            self.doc.values[path] = mark
            if isinstance(event, yaml.ScalarEvent):
                if tag and tag != "!":
                    value = _explicit(tag, event.value, mark, self.file)
                elif event.implicit[0] and not event.style:  # libyaml says '' for plain, PyYAML None
                    try:
                        value = _resolve_plain(event.value)
                    except ValueError:  # more digits than Python converts (4300)
                        raise SpecError(
                            f"the number has {len(event.value)} digits, far more than any spec needs",
                            location=mark,
                        ) from None
                else:
                    value = event.value
                self._remember(event.anchor, path, value)
                root_set = self._attach(stack, value, path, event) or root_set
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise SpecError(
                        f"the document is nested more than {MAX_DEPTH} levels deep",
                        location=mark,
                        hint="a spec never needs this depth; check the indentation and brackets",
                    )
                container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
                stack.append([container, path, _NO_KEY, None, event.anchor, None])
        if not root_set:
            raise SpecError(
                "the file is empty",
                location=Location(self.file, 1, 1),
                hint="a spec is a YAML mapping with at least 'model:'; see 'kerun schema' or specs/ for examples",
            )
        return self.doc

    def _remember(self, anchor: str | None, path: Path_, value: Any) -> None:
        if anchor:
            n = len(path)
            marks = {p[n:]: m for p, m in self.doc.values.items() if p[:n] == path}
            self.anchors[anchor] = (copy_plain(value), marks)

    def _child_path(self, stack: list[list[Any]], event: yaml.Event) -> Path_:
        if not stack:
            return ()
        container, path, key, _kmark, _a, _ = stack[-1]
        if isinstance(container, list):
            return path + (len(container),)
        if key is _NO_KEY:
            return path + ("<key>",)
        return path + (key,)

    def _attach(self, stack: list[list[Any]], value: Any, path: Path_, event: yaml.Event) -> bool:
        if not stack:
            self.doc.data = value
            return True
        top = stack[-1]
        container = top[0]
        if isinstance(container, list):
            container.append(value)
            return False
        if top[2] is _NO_KEY:
            mark = self._mark(event)
            self.doc.values.pop(path, None)
            if isinstance(value, (dict, list)) or (isinstance(value, float) and not value.is_integer()):
                raise SpecError(
                    "a mapping key must be a name or a number",
                    location=mark,
                )
            if value in container:
                first = self.doc.keys.get(top[1] + (value,))
                where = f" (first at line {first.line})" if first else ""
                raise SpecError(
                    f"duplicate key {value!r}{where}",
                    location=mark,
                    path=top[1] + (value,),
                    hint="YAML would silently keep only the last one; remove or rename one of them",
                )
            top[2] = value
            top[3] = mark
            return False
        key = top[2]
        container[key] = value
        self.doc.keys[top[1] + (key,)] = top[3]
        top[2] = _NO_KEY
        return False


_NO_KEY = object()


def copy_plain(value: Any) -> Any:
    """A copy of plain YAML data (mappings, lists, scalars), cheaper than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {k: copy_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_plain(v) for v in value]
    return value


def _yaml_error(exc: yaml.YAMLError, file: str) -> SpecError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    loc = Location(file, mark.line + 1, mark.column + 1) if mark is not None else Location(file)
    hint = None
    if "tab" in problem.lower() or "\\t" in problem:
        hint = "YAML indentation uses spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        hint = "a ':' inside a value needs quotes, or the indentation of this line is off"
    return SpecError(message, location=loc, hint=hint)


# libyaml's parser, when PyYAML has it, is about 20 times faster than PyYAML's own (a base spec or a
# spec read again costs a fraction of a millisecond); invalid YAML is parsed again by PyYAML's own,
# so the message of a syntax error is the same with or without libyaml.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _parse_events(text: str, file: str) -> Document:
    if _FAST_LOADER is not None:
        try:
            return _Builder(file).build(yaml.parse(text, Loader=_FAST_LOADER))
        except yaml.YAMLError:
            pass
    try:
        return _Builder(file).build(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None


def parse_document(text: str | bytes, file: str) -> Document:
    """Read one spec document from text; raise :class:`SpecError` with a position on any fault."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise SpecError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB", location=Location(file))
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            before = text[: exc.start]
            line = before.count(b"\n") + 1
            column = exc.start - (before.rfind(b"\n") + 1) + 1
            raise SpecError(
                "the file is not UTF-8 text",
                location=Location(file, line, column),
                hint="a spec is a YAML text file; is this the right file?",
            ) from None
    if "\x00" in text:
        before = text[: text.index("\x00")]
        raise SpecError(
            "the file contains a NUL byte; it is not a text file",
            location=Location(file, before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1),
        )
    doc = _parse_events(text, file)
    if doc.data is None:
        raise SpecError(
            "the file is empty",
            location=Location(file, 1, 1),
            hint="a spec is a YAML mapping with at least 'model:'; see 'kerun schema' or specs/ for examples",
        )
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else f"a single {type(doc.data).__name__} value"
        raise SpecError(
            f"the top level of a spec must be a mapping of keys (name, data, model, ...), got {kind}",
            location=doc.values.get((), Location(file, 1, 1)),
        )
    return doc


def load_document(path: str | Path) -> Document:
    """Read a spec file; a missing or unreadable file is a :class:`SpecError` too."""
    from kerun.safeio import NotReadable, read_bounded

    try:  # a FIFO, a device or /dev/zero behind a symbolic link is refused before it is read
        raw = read_bounded(path, MAX_BYTES)
    except NotReadable as exc:
        reason = "this is a folder, not a spec file" if exc.reason.startswith("a folder") else exc.reason
        raise SpecError(reason, location=Location(str(path))) from None
    return parse_document(raw, str(path))
