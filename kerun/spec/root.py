"""The top level of a spec, and the translation of pydantic's errors into located Problems."""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, ValidationError

from kerun.errors import Problem
from kerun.spec.base import SpecModel
from kerun.spec.data import DataSpec
from kerun.spec.loader import Document
from kerun.spec.model import ModelSpec
from kerun.spec.suggest import did_you_mean
from kerun.spec.training import CompileSpec, DistributeSpec, SweepSpec, TrainSpec

__all__ = ["KerunSpec", "RUN_NAME_PATTERN", "validate_structure"]

RUN_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"


class KerunSpec(SpecModel):
    kerun: Literal[1] = 1
    name: Annotated[str, Field(pattern=RUN_NAME_PATTERN, max_length=100)] | None = Field(
        None, description="the run's name; runs go to runs/<name>/<timestamp>-<id>/. By default the file's name"
    )
    description: str | None = None
    seed: Annotated[int, Field(ge=0, lt=2**32)] | None = Field(
        None, description="makes splits, shuffling and weight initialisation repeatable"
    )
    plugins: list[str] = Field(default_factory=list, description="Python files (relative to the spec) or modules to import first")
    data: DataSpec | None = None
    models: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], ModelSpec] = Field(default_factory=dict)
    model: ModelSpec
    compile: CompileSpec = Field(default_factory=CompileSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    distribute: DistributeSpec = Field(default_factory=DistributeSpec)
    sweep: SweepSpec | None = None


# ---------------------------------------------------------------------------------------------
# pydantic errors -> Problems


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


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop the parts of a pydantic location (union tags, function names) that are not in the data."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.isdigit() and int(part) in node:
            path.append(int(part))
            node = node[int(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and len(loc) and part == loc[-1] and not isinstance(part, int):
            # a missing or unknown key: keep it so the message names it
            path.append(part)
            node = None
    return tuple(path)


def _problem(doc: Document, err: dict[str, Any], root: type[BaseModel]) -> Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    value = err.get("input")
    path = _data_path(doc.data, loc)
    hint: str | None = None
    if kind == "extra_forbidden":
        key = path[-1] if path else loc[-1]
        parent_loc = loc[:-1]
        model = _model_at(root, parent_loc)
        allowed = sorted(model.model_fields) if model else []
        hint = did_you_mean(str(key), allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        return doc.problem(path, f"unknown key {key!r}", hint=hint, key=True)
    if kind == "missing":
        parent = path[:-1] if path and path[-1] == loc[-1] else path
        return doc.problem(parent, f"missing required key {loc[-1]!r}")
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {_describe(value)}"
        if kind == "bool_type" and isinstance(value, str):
            hint = "write true or false; kerun reads YAML 1.2, where yes/no/on/off are strings"
        elif kind in ("int_type", "float_type") and isinstance(value, str):
            hint = "numbers are written without quotes"
    elif kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        choices = re.findall(r"'([^']*)'", expected)
        message = f"expected one of {expected}, got {_describe(value)}"
        hint = did_you_mean(str(value), choices) if isinstance(value, str) else None
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = list(err.get("ctx", {}).values())[0]
        words = {"greater_than": "greater than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        noun = "integer" if isinstance(value, int) and not isinstance(value, bool) else "number"
        if bound == 0 and kind == "greater_than":
            message = f"expected a positive {noun}, got {_describe(value)}"
        else:
            message = f"expected a number {words} {bound}, got {_describe(value)}"
    elif kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        if pattern == RUN_NAME_PATTERN:
            message = f"a run name is lower-case letters, digits, '.', '_' and '-', starting with a letter or digit; got {_describe(value)}"
            hint = "the name becomes a folder under runs/, so it cannot hold '/' or start with '.'"
        else:
            message = f"expected a name matching {pattern}, got {_describe(value)}"
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
            message += f", got {_describe(value)}"
    return doc.problem(path, message, hint=hint)


def validate_structure(doc: Document) -> tuple[KerunSpec | None, list[Problem], set[str]]:
    """Validate the document's shape against :class:`KerunSpec`; every error, none left out.

    Returns the spec, the problems, and the top-level sections that are broken. When anything is
    broken the spec is still returned, built from the sections that did validate (the broken ones
    at their defaults), so the name and graph checks can go on for the rest.
    """
    try:
        return KerunSpec.model_validate(doc.data), [], set()
    except ValidationError as exc:
        problems = [_problem(doc, err, KerunSpec) for err in exc.errors(include_url=False)]
        broken = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        return _partial(doc.data, broken), _merge_alternatives(problems), broken


def _partial(data: dict[str, Any], broken: set[str]) -> KerunSpec | None:
    """A KerunSpec of the sections that validated; None when even the model is broken."""
    if "model" in broken or "models" in broken:
        return None
    good = {k: v for k, v in data.items() if k in KerunSpec.model_fields and k not in broken}
    try:
        return KerunSpec.model_validate(good)
    except ValidationError:
        return None


def _merge_alternatives(problems: list[Problem]) -> list[Problem]:
    """Union types fail once per alternative; say it once: "expected true or false or 'auto'"."""
    out: list[Problem] = []
    by_path: dict[tuple[Any, ...], Problem] = {}
    for p in problems:
        prev = by_path.get(p.path)
        m_prev = re.match(r"expected (.*), got (.*)$", prev.message) if prev else None
        m_new = re.match(r"expected (.*), got (.*)$", p.message)
        if prev is not None and m_prev and m_new and m_prev.group(2) == m_new.group(2):
            merged = Problem(
                message=f"expected {m_prev.group(1)} or {m_new.group(1)}, got {m_new.group(2)}",
                location=prev.location,
                path=prev.path,
                hint=prev.hint or p.hint,
            )
            out[out.index(prev)] = merged
            by_path[p.path] = merged
            continue
        if prev is not None and prev.message == p.message:
            continue
        by_path[p.path] = p
        out.append(p)
    return out
