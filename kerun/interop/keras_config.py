"""Reading a Keras model's configuration, without deserializing it, and the vocabulary of its items.

:func:`read_model_config` opens a ``.keras`` archive, an ``.h5`` file or ``model.to_json()`` text
and returns the JSON configuration; no code runs. The helpers read that configuration: the names
Keras makes up (:func:`to_snake_case`), values at their defaults (looked up in the catalogue), the
tensor references of a functional model's nodes, and the ``call`` parameters of a layer class.
"""

from __future__ import annotations

import inspect
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerun.errors import InteropError, Location
from kerun.spec import catalog
from kerun.spec.refs import argument_kind

__all__ = ["MODEL_CLASSES", "Ref", "read_model_config", "to_snake_case"]

MODEL_CLASSES = ("Functional", "Sequential", "Model")
OP_MODULES = ("keras.src.ops", "keras.ops")
# Values Keras writes into a config where the constructor's default is None.
_NONE_EQUIVALENT = {"activation": "linear", "data_format": "channels_last"}
# Keras's short initializer identifiers that the catalogue does not list as class aliases.
_SHORT_IDENTIFIERS = {"uniform": "random_uniform", "normal": "random_normal", "one": "ones", "zero": "zeros"}
TUPLE_ARGS = {"kernel_size", "strides", "pool_size", "dilation_rate", "size"}
MODEL_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"

@dataclass(frozen=True)
class Ref:
    """A tensor in the config: output ``tensor`` of call ``node`` of layer ``layer``."""

    layer: str
    node: int
    tensor: int

# ---------------------------------------------------------------------------------------------
# reading


def read_model_config(path: Path) -> dict[str, Any]:
    """The model's configuration, ``{"class_name": ..., "config": ...}``, without deserializing it."""
    where = Location(str(path))
    if not path.is_file():
        raise InteropError(f"no such model file: {path}", location=where)
    suffix = path.suffix.lower()
    try:
        if suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                data = json.loads(archive.read("config.json"))
        elif suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as h5:
                raw = h5.attrs.get("model_config")
            if raw is None:
                raise InteropError(f"{path} holds weights only, no model configuration", location=where,
                                   hint="import the .keras file or the model.to_json() text of the model instead")
            data = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise InteropError(f"{path} is not a Keras model file: {exc}", location=where,
                           hint="give a .keras file, an .h5 file, or the JSON text of model.to_json()") from None
    except RecursionError:
        raise InteropError(f"{path}: the model configuration is nested too deeply to read", location=where) from None
    if not isinstance(data, dict) or "class_name" not in data or not isinstance(data.get("config"), dict):
        raise InteropError(f"{path} holds no Keras model configuration", location=where,
                           hint="give a .keras file, an .h5 file, or the JSON text of model.to_json()")
    problem = structure_problem(data)
    if problem is not None:
        raise InteropError(f"{path}: the model configuration is malformed: {problem}", location=where,
                           hint="the file was edited or damaged; save the model again with model.save('model.keras')")
    return data


MAX_CONFIG_DEPTH = 200
"""Deeper than any configuration Keras writes (about 15 levels for a nested model)."""


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_CONFIG_DEPTH:
            return depth
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def structure_problem(data: dict[str, Any]) -> str | None:
    """What in a model configuration the conversion could not read (None when it can): the
    shapes of ``layers``, their nodes and the layer names they refer to, checked before any of it
    is read, so a malformed file is an error and not a traceback."""
    if _depth(data) > MAX_CONFIG_DEPTH:
        return f"it is nested more than {MAX_CONFIG_DEPTH} levels deep"
    return _model_problem(data, "the model")


def _model_problem(data: dict[str, Any], where: str) -> str | None:
    cfg = data.get("config")
    if data.get("class_name") not in MODEL_CLASSES or not isinstance(cfg, dict) or "layers" not in cfg:
        return None  # not a model: the conversion says what it is
    items = cfg["layers"]
    if not isinstance(items, list):
        return f"{where}'s layers are {type(items).__name__}, not a list"
    names = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("class_name"), str) or not isinstance(item.get("config"), dict):
            return f"{where}'s layer {i} is not a mapping with 'class_name' and 'config'"
        names.add(item_name(item))
        nodes = item.get("inbound_nodes")
        if nodes is not None and not isinstance(nodes, list):
            return f"{where}'s layer {i} has inbound_nodes that are not a list"
        for node in nodes or []:
            if not isinstance(node, dict) and not (isinstance(node, list) and all(isinstance(n, list) and len(n) >= 3 for n in node)):
                return f"{where}'s layer {i} has an inbound node that is neither a call nor a list of tensors"
        sub = _model_problem(item, f"the sub-model {item_name(item)!r}")
        if sub is not None:
            return sub
    for i, item in enumerate(items):
        for node in item.get("inbound_nodes") or []:
            try:
                refs = tensor_refs(parse_node(node))
            except (KeyError, TypeError, IndexError, ValueError):
                return f"{where}'s layer {i} has an inbound node whose tensors cannot be read"
            for ref in refs:
                if ref.layer not in names:
                    return f"{where}'s layer {i} reads {ref.layer!r}, which is not one of its layers"
    for key in ("input_layers", "output_layers"):
        value = cfg.get(key)
        if value is None:
            continue
        if not isinstance(value, (list, dict)) or not all(isinstance(t, list) and len(t) >= 3 and isinstance(t[0], str)
                                                         and all(isinstance(x, int) for x in t[1:3]) for t in triples(value)):
            return f"{where}'s {key} are not [layer, node, tensor] triples"
        missing = [t[0] for t in triples(value) if t[0] not in names]
        if missing:
            return f"{where}'s {key} name {missing[0]!r}, which is not one of its layers"
    return None

# ---------------------------------------------------------------------------------------------
# names and values


def to_snake_case(name: str) -> str:
    """Keras's own rule for the names it makes up (``Conv2D`` -> ``conv2d``, ``ReLU`` -> ``re_lu``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def is_auto(name: str, class_name: str) -> bool:
    stems = {to_snake_case(class_name)}
    if class_name in MODEL_CLASSES:
        stems |= {"functional", "sequential", "model"}
    if class_name == "InputLayer":
        stems |= {"input_layer", "input", "keras_tensor"}
    return any(re.fullmatch(rf"{re.escape(s)}(_\d+)?", name) for s in stems)


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b)


def is_default(arg: str, value: Any, argdef: catalog.ArgInfo | None) -> bool:
    if argdef is None or argdef.default_repr is not None or argdef.required:
        return False
    default = argdef.default
    if same_value(value, default) or (isinstance(value, list) and len(value) == 1 and same_value(value[0], default)):
        return True
    kind = argument_kind(arg)
    if kind and isinstance(value, str) and isinstance(default, str):  # 'uniform' is 'random_uniform'
        a = catalog.lookup(kind, _SHORT_IDENTIFIERS.get(value, value))
        b = catalog.lookup(kind, _SHORT_IDENTIFIERS.get(default, default))
        return a is not None and a == b
    return default is None and _NONE_EQUIVALENT.get(arg) == value


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def dtype_name(value: Any) -> str | None:
    if isinstance(value, dict):
        cfg = value.get("config")
        return cfg.get("name") if isinstance(cfg, dict) else None
    return value if isinstance(value, str) else None


def is_serialized(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value

def item_name(item: dict[str, Any]) -> str:
    return str(item.get("name") or item.get("config", {}).get("name"))


def triples(value: Any) -> list[list[Any]]:
    if not value:
        return []
    if isinstance(value, dict):  # a model built with inputs or outputs in a dict
        return [list(v) for v in value.values()]
    if isinstance(value[0], str):
        return [value]
    return [list(v) for v in value]


def tensor_ref(value: Any) -> Ref | None:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        h = value["config"]["keras_history"]
        return Ref(str(h[0]), int(h[1]), int(h[2]))
    if isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) and all(isinstance(v, int) for v in value[1:3]):
        return Ref(value[0], value[1], value[2])
    return None


def convert_refs(value: Any) -> Any:
    r = tensor_ref(value)
    if r is not None:
        return r
    if isinstance(value, list):
        return [convert_refs(v) for v in value]
    if isinstance(value, dict):
        return {k: convert_refs(v) for k, v in value.items()}
    return value


def parse_node(node: Any) -> tuple[list[Any], dict[str, Any]]:
    """A call's positional and keyword arguments, tensors as :class:`Ref` (Keras 3 and Keras 2 forms)."""
    if isinstance(node, dict):
        return [convert_refs(a) for a in node.get("args", [])], {k: convert_refs(v) for k, v in (node.get("kwargs") or {}).items()}
    refs = [Ref(n[0], n[1], n[2]) for n in node]
    kwargs = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    return ([refs[0]] if len(refs) == 1 else [refs]), {k: convert_refs(v) for k, v in kwargs.items()}


def tensor_refs(call: tuple[list[Any], dict[str, Any]] | list[Any]) -> list[Ref]:
    out: list[Ref] = []

    def walk(v: Any) -> None:
        if isinstance(v, Ref):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(call)
    return out


def has_ref(value: Any) -> bool:
    return bool(tensor_refs([value]))


def map_refs(value: Any, fn: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Ref):
        return fn(value)
    if isinstance(value, list):
        return [map_refs(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_refs(v, fn) for k, v in value.items()}
    return value


def multi_output(item: dict[str, Any]) -> bool:
    cfg = item.get("config") or {}
    if cfg.get("return_state") or cfg.get("return_attention_scores"):
        return True
    if item["class_name"] in MODEL_CLASSES and isinstance(cfg.get("output_layers"), list):
        return len(triples(cfg["output_layers"])) > 1
    return False


def plugin_class(item: dict[str, Any], names: frozenset[str]) -> tuple[type | None, str]:
    """The class one of this import's plugins registered for a config item, and the name a spec
    calls it by. ``names`` are what the plugins register (short and ``package>Name``): a class some
    other code registered in this process does not count, as the spec could not name it."""
    from kerun.model.plugins import registered_class

    for key in (item.get("registered_name"), item["class_name"]):
        if not key or (str(key) not in names and str(key).split(">")[-1] not in names):
            continue
        try:
            found = registered_class(str(key))
        except ValueError:
            found = None
        if found is not None:
            short = str(key).split(">")[-1]
            try:
                unique = registered_class(short) is found
            except ValueError:
                unique = False
            return found, short if unique else str(key)
    return None, item["class_name"]


def plugin_defaults(cls: type | None) -> dict[str, catalog.ArgInfo]:
    out: dict[str, catalog.ArgInfo] = {}
    if cls is None:
        return out
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.name == "self":
                continue
            default = p.default
            if default is inspect.Parameter.empty:
                out[p.name] = catalog.ArgInfo(name=p.name, required=True, default=None, type="other")
            elif default is None or isinstance(default, (bool, int, float, str)):
                out[p.name] = catalog.ArgInfo(name=p.name, required=False, default=default, type="other")
            elif isinstance(default, tuple):
                out[p.name] = catalog.ArgInfo(name=p.name, required=False, default=list(default), type="list")
    return out


def call_params(item: dict[str, Any], names: frozenset[str] = frozenset()) -> list[str]:
    """The positional parameters of the layer class's ``call``, after ``self``."""
    cls: type | None = None
    info = catalog.lookup("layer", item["class_name"])
    if info is not None:
        import importlib

        cls = getattr(importlib.import_module(info.module), info.name, None)
    else:
        cls, _ = plugin_class(item, names)
    if cls is None:
        return ["inputs"]
    params = list(inspect.signature(cls.call).parameters.values())[1:]
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
