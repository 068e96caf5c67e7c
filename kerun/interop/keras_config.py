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
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InteropError(f"{path} is not a Keras model file: {exc}", location=where,
                           hint="give a .keras file, an .h5 file, or the JSON text of model.to_json()") from None
    if not isinstance(data, dict) or "class_name" not in data or not isinstance(data.get("config"), dict):
        raise InteropError(f"{path} holds no Keras model configuration", location=where,
                           hint="give a .keras file, an .h5 file, or the JSON text of model.to_json()")
    return data

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
