"""pydantic's errors become located Problems: one per thing wrong, at the path a person wrote.

:func:`validate_structure` validates a document against :class:`~kerun.spec.root.KerunSpec` and
translates every error: its type becomes "expected <what>, got <value>" (or a message of its own),
its location becomes the dotted path in the data (union tags such as ``RangeSpec`` or
``list[any]`` never reach a message), and the alternatives of a union are said once.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError

from kerun.errors import Problem
from kerun.spec.base import no_pydantic_plugins
from kerun.spec.loader import Document
from kerun.spec.root import RUN_NAME_PATTERN, KerunSpec
from kerun.spec.suggest import did_you_mean

__all__ = ["validate_structure"]


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional / Union / Annotated."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    import types

    if isinstance(annotation, types.UnionType):
        out = []
        for arg in annotation.__args__:
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow a pydantic error location from ``root`` to the model class it ends in."""
    candidates: list[Any] = [root]
    for part in loc:
        nxt: list[Any] = []
        for cand in candidates:
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                if isinstance(part, str) and part in cand.model_fields:
                    nxt.extend(_unwrap(cand.model_fields[part].annotation))
                continue
            origin = typing.get_origin(cand)
            args = typing.get_args(cand)
            if origin is list and isinstance(part, int):
                nxt.extend(_unwrap(args[0]))
            elif origin is dict:
                nxt.extend(_unwrap(args[1]))
        tagged = [c for c in nxt if isinstance(c, type) and issubclass(c, BaseModel)
                  and "type" in c.model_fields and typing.get_args(c.model_fields["type"].annotation) == (part,)]
        if tagged:
            nxt = tagged
        candidates = nxt or candidates
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if len(models) == 1 else None


@dataclass(frozen=True)
class _Place:
    """Where a pydantic error is in the data: its path (union tags dropped), and, when it came from
    one alternative of a union, the path of the union and whether the error is about the value as a
    whole (``at_union``: the alternative's type did not fit) or about something inside it."""

    path: tuple[str | int, ...]
    union_at: tuple[str | int, ...] | None = None
    at_union: bool = False


_KEY_ERRORS = ("missing", "extra_forbidden")  # the last part of their location is a key, not in the data


def _data_path(data: Any, loc: tuple[Any, ...], kind: str = "") -> _Place:
    """Follow a pydantic location through the data. Parts that are not in the data are union tags
    (``RangeSpec``, ``list[any]``, ``function-after[...]``) and are dropped, except the key that a
    missing or unknown key error names."""
    path: list[str | int] = []
    union_at: tuple[str | int, ...] | None = None
    at_union = False
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.isdigit() and int(part) in node:
            path.append(int(part))
            node = node[int(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif last and kind in _KEY_ERRORS and isinstance(node, dict) and not isinstance(part, int):
            path.append(part)  # a missing or unknown key: keep it so the message names it
            node = None
        else:
            union_at, at_union = tuple(path), last
    return _Place(tuple(path), union_at, at_union)


@dataclass(frozen=True)
class _Found:
    """One pydantic error as a Problem; ``expected`` and ``got`` when its message is "expected
    <expected>, got <got>", so that the alternatives of a union can be said in one message."""

    problem: Problem
    place: _Place
    expected: str | None = None
    got: str | None = None


def _problem(doc: Document, err: dict[str, Any], root: type[BaseModel]) -> _Found:
    loc = tuple(err["loc"])
    kind = err["type"]
    value = err.get("input")
    place = _data_path(doc.data, loc, kind)
    path = place.path
    hint: str | None = None
    expected: str | None = None
    if kind == "extra_forbidden":
        key = path[-1] if path else loc[-1]
        parent_loc = loc[:-1]
        model = _model_at(root, parent_loc)
        allowed = sorted(model.model_fields) if model else []
        hint = did_you_mean(str(key), allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        return _Found(doc.problem(path, f"unknown key {key!r}", hint=hint, key=True), place)
    if kind == "missing":
        parent = path[:-1] if path and path[-1] == loc[-1] else path
        return _Found(doc.problem(parent, f"missing required key {loc[-1]!r}"), place)
    got = _describe(value)
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        if kind == "bool_type" and isinstance(value, str):
            hint = "write true or false; kerun reads YAML 1.2, where yes/no/on/off are strings"
        elif kind in ("int_type", "float_type") and isinstance(value, str):
            hint = "numbers are written without quotes"
    elif kind == "literal_error":
        literals = err.get("ctx", {}).get("expected", "")
        choices = re.findall(r"'([^']*)'", literals)  # pydantic's list of the literals
        expected = f"one of {literals}"
        hint = did_you_mean(str(value), choices) if isinstance(value, str) else None
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = list(err.get("ctx", {}).values())[0]
        words = {"greater_than": "greater than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        noun = "integer" if isinstance(value, int) and not isinstance(value, bool) else "number"
        expected = f"a positive {noun}" if bound == 0 and kind == "greater_than" else f"a number {words} {bound}"
    elif kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        if pattern == RUN_NAME_PATTERN:
            message = f"a run name is lower-case letters, digits, '.', '_' and '-', starting with a letter or digit; got {_describe(value)}"
            hint = "the name becomes a folder under runs/, so it cannot hold '/' or start with '.'"
        else:
            expected = f"a name matching {pattern}"
    elif kind == "source_type" or kind == "union_tag_invalid":
        from kerun.spec.data import SOURCE_TYPES

        given = value.get("type") if isinstance(value, dict) else None
        message = f"unknown source type {given!r}" if given else "a data source needs 'type:' (or 'split:' for a hold-out)"
        hint = did_you_mean(str(given), SOURCE_TYPES) or f"source types: {', '.join(SOURCE_TYPES)}"
        path = path + ("type",) if given and isinstance(doc.data, dict) else path
    elif kind in ("too_short", "too_long"):
        message = err["msg"][0].lower() + err["msg"][1:]
    elif kind == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
    else:
        message = err["msg"][0].lower() + err["msg"][1:]
        if value is not None and not isinstance(value, (dict, list)):
            message += f", got {got}"
    if expected is not None:
        return _Found(doc.problem(path, f"expected {expected}, got {got}", hint=hint), place, expected, got)
    return _Found(doc.problem(path, message, hint=hint), place)


def validate_structure(doc: Document) -> tuple[KerunSpec | None, list[Problem], set[str]]:
    """Validate the document's shape against :class:`KerunSpec`; every error, none left out.

    Returns the spec, the problems, and the top-level sections that are broken. When anything is
    broken the spec is still returned, built from the sections that did validate (the broken ones
    at their defaults), so the name and graph checks can go on for the rest.
    """
    try:
        with no_pydantic_plugins():  # the validators are built here, on first use (SpecModel's defer_build)
            return KerunSpec.model_validate(doc.data), [], set()
    except ValidationError as exc:
        found = [_problem(doc, err, KerunSpec) for err in exc.errors(include_url=False)]
        broken = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        return _partial(doc.data, broken), _merge_alternatives(found), broken


def _partial(data: dict[str, Any], broken: set[str]) -> KerunSpec | None:
    """A KerunSpec of the sections that validated; None when even the model is broken."""
    if "model" in broken or "models" in broken:
        return None
    good = {k: v for k, v in data.items() if k in KerunSpec.model_fields and k not in broken}
    try:
        with no_pydantic_plugins():
            return KerunSpec.model_validate(good)
    except ValidationError:
        return None


def _merge_alternatives(found: list[_Found]) -> list[Problem]:
    """A union fails once per alternative. Where one alternative got inside the value (a mapping
    given where a list or a RangeSpec may go, and the RangeSpec's keys are wrong), the others'
    "expected a list" is left out; where every alternative refused the value as a whole, they are
    said once: "expected true or false or one of 'auto', got 'yes'". Merged by their parts (the
    error's type made them), never by reading the messages."""
    inside = {f.place.union_at for f in found if f.place.union_at is not None and not f.place.at_union}
    out: list[Problem] = []
    merged: dict[tuple[Any, ...], tuple[int, list[str], _Found]] = {}
    for f in found:
        if f.place.at_union and f.place.union_at in inside:
            continue
        p = f.problem
        if f.expected is not None:
            prev = merged.get(p.path)
            if prev is not None and prev[2].got == f.got:
                index, words, first = prev
                if f.expected not in words:
                    words.append(f.expected)
                out[index] = Problem(message=f"expected {' or '.join(words)}, got {f.got}", location=first.problem.location,
                                     path=p.path, hint=out[index].hint or p.hint)
                continue
            merged[p.path] = (len(out), [f.expected], f)
        if any(q.path == p.path and q.message == p.message for q in out):
            continue
        out.append(p)
    return out
