"""``kerun schema``: a JSON Schema of the spec format for editors' YAML language servers.

The shape comes from the pydantic models; the layer entries gain one ``if``/``then`` branch per
Keras layer class, listing that class's arguments, so an editor completes ``units:`` after
``type: Dense``. Keras objects elsewhere (optimizers, losses ...) list their names.
"""

from __future__ import annotations

from typing import Any

from kerun.spec import catalog
from kerun.spec.check import argument_kind
from kerun.spec.root import KerunSpec

__all__ = ["json_schema"]

_SCHEMA_ID = "https://kerun.dev/schema/v1.json"


def _arg_schema(arg: catalog.ArgInfo) -> dict[str, Any]:
    # "list" defaults (pool_size=(2, 2)) also take a single number, so they get no type here.
    types = {"bool": "boolean", "int": "integer", "float": "number", "str": "string"}
    out: dict[str, Any] = {}
    if argument_kind(arg.name) is not None:  # a Keras object: a name or a {type: ...} mapping
        out["anyOf"] = [{"type": ["string", "null", "number"]}, {"type": "object", "required": ["type"]}]
    elif arg.type in types:
        out["type"] = [types[arg.type], "null"] if arg.type != "int" else ["integer", "array", "null"]
    if arg.default is not None and arg.type != "other":
        out["default"] = arg.default
    return out


def _object_schema(kind: str) -> dict[str, Any]:
    names = sorted(set(catalog.identifiers(kind)))
    classes = catalog.class_names(kind)
    return {
        "anyOf": [
            {"type": "string", "examples": names or classes},
            {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string", "examples": classes}},
            },
        ]
    }


def json_schema() -> dict[str, Any]:
    schema = KerunSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = _SCHEMA_ID
    schema["title"] = "kerun spec, format version 1"
    defs = schema.get("$defs", {})
    model_inputs = defs.get("ModelSpec", {}).get("properties", {}).get("inputs")
    if model_inputs is not None:  # the shorthand  x: [28, 28, 1]
        shape = {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}}
        for pattern, ref in model_inputs.get("patternProperties", {}).items():
            model_inputs["patternProperties"][pattern] = {"anyOf": [ref, shape]}
    layer = defs.get("LayerSpec")
    if layer is not None:
        branches = []
        for name in catalog.class_names("layer"):
            info = catalog.lookup("layer", name)
            if info is None or info.unsafe:
                continue
            props = {a.name: _arg_schema(a) for a in info.args.values()}
            required = [a.name for a in info.args.values() if a.required]
            then: dict[str, Any] = {"properties": props}
            if required:
                then["required"] = required
            branches.append({"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": then})
        layer["properties"]["type"]["examples"] = catalog.class_names("layer")
        layer["allOf"] = branches
    for model_name, field, kind in (
        ("CompileSpec", "optimizer", "optimizer"),
        ("CompileSpec", "loss", "loss"),
        ("TrainSpec", "callbacks", "callback"),
    ):
        target = defs.get(model_name, {}).get("properties", {}).get(field)
        if target is not None:
            desc = target.get("description")
            obj = _object_schema(kind)
            if field == "callbacks":
                target.clear()
                target.update({"type": "array", "items": obj})
            elif field == "loss":
                target.clear()
                target.update({"anyOf": [obj, {"type": "object", "additionalProperties": obj}]})
            else:
                target.clear()
                target.update(obj)
            if desc:
                target["description"] = desc
    return schema
