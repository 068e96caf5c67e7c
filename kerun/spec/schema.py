"""``kerun schema``: a JSON Schema of the spec format for editors' YAML language servers.

The shape comes from the pydantic models; everything a spec names from Keras comes from the
catalogue (:mod:`kerun.spec.catalog`), so an editor flags statically what ``kerun validate`` flags:

- every kind (layer, optimizer, loss, metric, callback, initializer, regularizer, constraint,
  schedule, activation) is ``$defs/keras.<kind>``: a name, or a ``{type: Class, ...}`` mapping
  with one ``if``/``then`` branch per class that lists its arguments (typed, described from
  Keras's docstrings) and forbids the others (``additionalProperties: false``, layer entries also
  taking ``name``, ``type``, ``use`` and ``inputs``). Classes kerun refuses (``Lambda`` ...) are
  left out.
- names are checked by a ``pattern`` (Keras's case rules: optimizer identifiers and
  ``accuracy``/``crossentropy`` are case-insensitive), and offered for completion by an ``enum``
  in an ``anyOf`` alternative that never matches. An ``enum`` that matches would make every hover
  list all of its values (yaml-language-server's "Allowed Values"); this way a hover shows one
  class's description.
- JSON Schema cannot refer to keys of the document itself, so the spec's own sub-model and block
  names (and plugin classes) can be neither completed nor checked. A spec that has ``plugins``,
  ``models``, ``blocks`` or ``extends`` is matched against an *open* copy of the definitions
  (``$defs/open.*``), in which a type or name that is not Keras's passes (and block parameters
  ``$name`` are accepted as argument values); Keras classes are checked the same in both.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kerun.spec import catalog
from kerun.spec.check import _POSITIVE_INT, _POSITIVE_INTS, _UNIT_INTERVAL_OPEN, RUN_PROVIDED, argument_kind
from kerun.spec.model import ENTRY_KEYS
from kerun.spec.root import KerunSpec

__all__ = ["json_schema", "OPEN_TRIGGERS"]

_SCHEMA_ID = "https://kerun.dev/schema/v1.json"
_INT32 = 2**31
#: Top-level keys that bring names the schema cannot know: the open definitions apply.
OPEN_TRIGGERS = ("plugins", "models", "blocks", "extends")
_PARAM = {"type": "string", "pattern": r"^\$[A-Za-z_][A-Za-z0-9_]*$", "description": "a block parameter"}
_WORDS = {"layer": "layer type", "schedule": "learning-rate schedule"}
_TOP_DEFS = ("ModelSpec", "LayerSpec", "CompileSpec", "TrainSpec")  # what references Keras names


def _ref(name: str, open_: bool) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{'open.' if open_ else ''}{name}"}


def _pattern(names: list[str], insensitive: list[str] = ()) -> str:  # type: ignore[assignment]
    def fold(word: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)

    alternatives = [re.escape(n) for n in sorted(set(names))] + [fold(n) for n in sorted(set(insensitive))]
    return "^(?:" + "|".join(alternatives) + ")$"


def _classes(kind: str) -> list[catalog.ClassInfo]:
    out = []
    for name in sorted({n for n in catalog.class_names(kind)}):
        info = catalog.lookup(kind, name)
        if info is not None and not info.unsafe and info.name == name:
            out.append(info)
    return out


def _class_words(kind: str) -> list[str]:
    """Canonical names and aliases of the classes a spec may use (refused ones left out)."""
    return sorted({n for info in _classes(kind) for n in (info.name, *info.aliases)})


def _string_names(kind: str) -> tuple[list[str], list[str]]:
    """(case-sensitive names, case-insensitive names) a spec may write as a plain string."""
    folded, exact = [], []
    for ident in catalog.identifiers(kind):
        variants = (ident.upper(), ident.lower(), ident.title(), ident.swapcase())
        (folded if all(catalog.is_identifier(kind, v) for v in variants) else exact).append(ident)
    return sorted(set(exact) | set(_class_words(kind))), sorted(set(folded))


def _completion_only(names: list[str], error: str | None, folded: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """A string that is one of ``names`` (checked unless ``error`` is None), offered for completion
    by an ``enum`` in an alternative that never matches, so hovers do not list every name."""
    out: dict[str, Any] = {"type": "string", "anyOf": [{"enum": [*names, *folded], "maxLength": 0}, {}]}
    if error is not None:
        out["pattern"] = _pattern(names, folded)
        out["errorMessage"] = error
    return out


def _name_schema(kind: str, open_: bool) -> dict[str, Any]:
    exact, folded = _string_names(kind)
    error = None if open_ else f"unknown {_WORDS.get(kind, kind)}; run kerun validate for the nearest name"
    return _completion_only(exact, error, folded)


def _value_schema(owner: str, arg: catalog.ArgInfo, open_: bool) -> dict[str, Any]:
    """What ``kerun.spec.check.Checker.check_value`` accepts for this argument."""
    name = arg.name
    kind = argument_kind(name)
    typed = {"type": "object", "required": ["type"]}
    if name == "learning_rate":
        positive = {"type": "number", "exclusiveMinimum": 0, "errorMessage": "expected a positive number or a schedule mapping"}
        out: dict[str, Any] = {"anyOf": [positive, _ref("keras.schedule", open_)]}
    elif kind is not None:
        out = {"anyOf": [_ref(f"keras.{kind}", open_), {"type": ["number", "boolean", "array", "null"]}]}
    elif name in _POSITIVE_INT:
        out = {"anyOf": [{"type": "integer", "minimum": 1, "exclusiveMaximum": _INT32,
                          "errorMessage": "expected a positive integer below 2**31"}, typed]}
    elif name in _POSITIVE_INTS:
        low = -1 if name == "target_shape" else 1
        item = {"type": "integer", "minimum": low, "exclusiveMaximum": _INT32, "not": {"const": 0},
                "errorMessage": "expected a positive integer or a list of them"}
        out = {"anyOf": [item, {"type": "array", "minItems": 1, "items": item}, typed]}
    elif name in _UNIT_INTERVAL_OPEN and owner != "GaussianNoise":
        out = {"anyOf": [{"type": "number", "minimum": 0, "exclusiveMaximum": 1,
                          "errorMessage": "expected a number from 0 up to (not including) 1"}, typed]}
    else:
        plain = {"bool": ["boolean"], "int": ["number", "array"], "number": ["number", "array"], "float": ["number"],
                 "str": ["string"]}.get(arg.type)
        words = {"bool": "true or false", "int": "a number", "number": "a number", "float": "a number", "str": "a string"}
        out = {"anyOf": [{"type": [*plain, "null"], "errorMessage": f"expected {words.get(arg.type)}"}, typed]} if plain else {}
        if arg.type in ("int", "number"):
            out["anyOf"][0] = {"anyOf": [{"type": ["number", "null"], "errorMessage": "expected a number"},
                                         {"type": "array", "items": {"type": "number"}}]}
    if open_ and out:
        out = {"anyOf": [out, _PARAM]}
    if arg.doc:
        out["description"] = arg.doc
    if arg.default is not None and arg.type != "other":
        out["default"] = arg.default
    return out


def _branches(kind: str, open_: bool) -> list[dict[str, Any]]:
    """One ``if type is C then C's arguments`` per class of ``kind``."""
    entry_keys = ENTRY_KEYS if kind == "layer" else ("type",)
    branches = []
    for info in _classes(kind):
        names = [info.name, *info.aliases]
        doc = f"{info.name}: {info.doc}" if info.doc else info.name
        props: dict[str, Any] = {key: {} for key in entry_keys}
        props["type"] = {"description": doc}
        props.update({a.name: _value_schema(info.name, a, open_) for a in info.args.values() if a.name not in entry_keys})
        then: dict[str, Any] = {"properties": props}
        if not info.var_kwargs:
            then["additionalProperties"] = False
        required = [a.name for a in info.args.values() if a.required and (info.name, a.name) not in RUN_PROVIDED]
        if required:
            then["required"] = required
        # const or pattern, never enum: the hover of a value lists every enum that matched it
        test = {"const": names[0]} if len(names) == 1 else {"type": "string", "pattern": _pattern(names)}
        branches.append({"if": {"properties": {"type": test}, "required": ["type"]}, "then": then})
    return branches


def _kind_defs(open_: bool) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    prefix = "open." if open_ else ""
    for kind in catalog.KINDS:
        word = _WORDS.get(kind, kind)
        classes = _class_words(kind)
        type_schema = _completion_only(classes, None if open_ else f"unknown {word} class; run kerun validate for the nearest name")
        mapping = {"type": "object", "required": ["type"], "properties": {"type": type_schema}}
        if classes:
            mapping["allOf"] = _branches(kind, open_)
        defs[f"{prefix}keras.{kind}.mapping"] = mapping
        alternatives: list[dict[str, Any]] = [{"$ref": f"#/$defs/{prefix}keras.{kind}.mapping"}] if classes else []
        if kind != "layer":  # a layer is a mapping; a bare name is only for layer arguments (Bidirectional)
            alternatives.insert(0, _name_schema(kind, open_))
        else:
            alternatives.insert(0, _completion_only(classes, None if open_ else "unknown layer type"))
        if open_:
            alternatives.append(_PARAM)
        # no description here: an argument's own (from Keras's docstring) shows in its hover
        defs[f"{prefix}keras.{kind}"] = {"anyOf": alternatives}
    return defs


def _layer_entry(layer: dict[str, Any], open_: bool) -> dict[str, Any]:
    out = copy.deepcopy(layer)
    props = out["properties"]
    type_prop = props["type"]
    # a hover shows the first title and description that match: the branch's class description
    type_prop["title"] = "type: " + type_prop.pop("description", "a Keras layer class")
    error = None if open_ else "unknown layer type; run kerun validate for the nearest name"
    type_prop["anyOf"] = [_completion_only(_class_words("layer"), error), {"type": "null"}]
    out["allOf"] = _branches("layer", open_)
    return out


def _retarget(node: Any, names: set[str]) -> Any:
    """Deep copy of a definition whose ``$ref``\\s to ``names`` point at their open copies."""
    if isinstance(node, dict):
        out = {k: _retarget(v, names) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in names:
            out["$ref"] = "#/$defs/open." + ref[8:]
        return out
    if isinstance(node, list):
        return [_retarget(v, names) for v in node]
    return node


def _compile_train(defs: dict[str, Any], open_: bool) -> None:
    for model_name, field, kind in (
        ("CompileSpec", "optimizer", "optimizer"),
        ("CompileSpec", "loss", "loss"),
        ("CompileSpec", "metrics", "metric"),
        ("TrainSpec", "callbacks", "callback"),
    ):
        target = defs.get(model_name, {}).get("properties", {}).get(field)
        if target is None:
            continue
        keep = {k: target[k] for k in ("description", "default") if k in target}
        one = _ref(f"keras.{kind}", open_)
        per_output = {"type": "object", "not": {"required": ["type"]}}
        if field == "callbacks":
            new: dict[str, Any] = {"type": "array", "items": one}
        elif field == "loss":
            new = {"anyOf": [one, {"type": "array", "items": one}, {**per_output, "additionalProperties": one}, {"type": "null"}]}
        elif field == "metrics":
            many = {"anyOf": [one, {"type": "array", "items": one}]}
            new = {"anyOf": [{"type": "array", "items": one}, one, {**per_output, "additionalProperties": many}, {"type": "null"}]}
        else:
            new = one
        target.clear()
        target.update(new | keep)


def json_schema() -> dict[str, Any]:
    schema = KerunSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = _SCHEMA_ID
    schema["title"] = "kerun spec, format version 1"
    defs = schema.setdefault("$defs", {})
    model_inputs = defs.get("ModelSpec", {}).get("properties", {}).get("inputs")
    if model_inputs is not None:  # the shorthand  x: [28, 28, 1]
        shape = {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}}
        for pattern, ref in model_inputs.get("patternProperties", {}).items():
            model_inputs["patternProperties"][pattern] = {"anyOf": [ref, shape]}
    _data_shorthands(defs)
    layer = defs.get("LayerSpec")
    # in _TOP_DEFS's order: a set's order changes with every process's string hashes, and so did
    # the order of the open copies in the printed schema
    order = [name for name in _TOP_DEFS if name in defs]
    copies = set(order)
    open_defs = {f"open.{name}": _retarget(defs[name], copies) for name in order}
    if layer is not None:
        open_defs["open.LayerSpec"] = _layer_entry(open_defs["open.LayerSpec"], True)
        defs["LayerSpec"] = _layer_entry(layer, False)
    defs.update(open_defs)
    defs.update(_kind_defs(False))
    defs.update(_kind_defs(True))
    _compile_train(defs, False)
    _compile_train({k[5:]: v for k, v in defs.items() if k.startswith("open.")}, True)
    _open_when_needed(schema, copies)
    _composition(schema)
    return schema


def _data_shorthands(defs: dict[str, Any]) -> None:
    """What validate reads before its models do (kerun.spec.data), written into the schema so that
    editors accept it too: ``targets: {offset: 1, scale: 0.5}``, the single output's field itself;
    and in a CSV without a header (and without ``names``), columns named by number: ``label: 0``,
    ``columns: [1, 2]``."""
    data = defs.get("DataSpec", {}).get("properties", {})
    if "targets" in data and "FieldSpec" in defs:
        targets = data["targets"]
        kept = {k: targets[k] for k in ("description", "title") if k in targets}
        mapping = {k: v for k, v in targets.items() if k not in ("description", "title", "default")}
        data["targets"] = {**kept, "anyOf": [mapping, {"$ref": "#/$defs/FieldSpec"}]}
    csv = defs.get("CsvSourceSpec")
    props = csv.get("properties", {}) if csv else {}
    if "label" in props and "columns" in props:
        number = {"type": "integer", "minimum": 0}
        props["label"]["anyOf"] = [{"type": "string"}, number, {"type": "null"}]
        props["columns"]["anyOf"] = [{"type": "array", "items": {"anyOf": [{"type": "string"}, number]}}, {"type": "null"}]
        csv["if"] = {"properties": {"header": {"const": False}}, "required": ["header"], "not": {"required": ["names"]}}
        csv["else"] = {"properties": {"label": {"not": {"type": "integer"}},
                                      "columns": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"not": {"type": "integer"}}}]}}}


def _composition(schema: dict[str, Any]) -> None:
    """Format 1.1's keys (kerun.spec.compose, kerun.spec.blocks): ``extends``, ``set``, ``blocks``
    with ``params``. A spec that extends another may leave ``model`` to its base; a block's entries
    take ``$name`` for any value, so they are checked once expanded, by kerun validate."""
    from kerun.spec.blocks import BLOCK_KEYS

    props = schema.setdefault("properties", {})
    spec_file = {"type": "string", "pattern": r"\.ya?ml$"}
    props["extends"] = {
        "description": "the spec(s) this one builds on, relative to this file; later bases over earlier, this file's keys over them",
        "anyOf": [spec_file, {"type": "array", "items": spec_file, "minItems": 1}],
    }
    props["set"] = {
        "description": "values changed after the bases are merged, by dotted path as --set addresses them: model.layers.hidden.units",
        "type": "object", "propertyNames": {"pattern": r"^[^.\s][^\s]*$"},
    }
    entry = {"type": "object", "properties": {
        "name": {"type": "string", "description": "local to the block; the layer is named <use>_<name>"},
        "type": {"type": "string"}, "use": {"type": "string"},
        "inputs": {"description": "'input' (or the block's inputs), or entries of the block"},
    }}
    block = {
        "type": "object", "additionalProperties": False, "required": ["layers"],
        "properties": {
            "description": {"type": "string"},
            "params": {"type": "object", "description": "parameter -> default; null: required. Written $name as a whole value",
                       "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$", "not": {"enum": ["name", "type", "inputs"]}}},
            "inputs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                       "description": "the block's input names; by default one, 'input'"},
            "layers": {"type": "array", "items": entry, "minItems": 1},
            "outputs": {"type": "string", "description": "the entry whose output is the block's; by default the last"},
        },
    }
    assert set(block["properties"]) == set(BLOCK_KEYS)
    props["blocks"] = {
        "description": "named groups of layer entries with parameters, expanded in place where an entry uses one as its type",
        "type": "object", "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"}, "additionalProperties": block,
    }
    required = schema.pop("required", None)
    if required:  # what a base may provide
        schema["anyOf"] = [{"required": required}, {"required": ["extends"]}]


def _open_when_needed(schema: dict[str, Any], copies: set[str]) -> None:
    """Top-level keys whose definitions reference Keras names get an open and a strict variant,
    chosen by whether the spec has any of :data:`OPEN_TRIGGERS`."""
    props = schema.get("properties", {})
    strict: dict[str, Any] = {}
    opened: dict[str, Any] = {}
    for key, prop in props.items():
        if _mentions(prop, copies):
            strict[key] = prop
            opened[key] = _retarget(prop, copies)
            props[key] = {k: prop[k] for k in ("description", "title") if k in prop}
    if not strict:
        return
    schema["if"] = {"anyOf": [{"required": [key]} for key in OPEN_TRIGGERS]}
    schema["then"] = {"properties": opened}
    schema["else"] = {"properties": strict}


def _mentions(node: Any, names: set[str]) -> bool:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref[8:] in names:
            return True
        return any(_mentions(v, names) for v in node.values())
    if isinstance(node, list):
        return any(_mentions(v, names) for v in node)
    return False
