"""``kerun import``: a Keras model (``.keras``, ``.h5`` or ``model.to_json()``) becomes a spec.

The model is read as configuration only: nothing is deserialized and no code runs, so a ``Lambda``
or a class from code kerun was not given is found before anything would execute it, and reported
with the layer's name. The spec written is the one a person would write:

- a straight chain stays a plain list (no ``inputs:``), whatever Keras class held it;
- arguments left at their defaults (looked up in the committed catalogue) are left out, and
  ``{type: GlorotUniform}`` becomes ``glorot_uniform``;
- names Keras made up (``dense_3``, ``conv2d``) are dropped unless an entry refers to them;
- nested models become ``models:`` entries (identical ones share one), shared layers ``use:``;
- scalar arithmetic on tensors, which Keras records as operations rather than layers
  (``x + 3.0``, ``x * (1 / 6)``), becomes a ``Rescaling`` entry that computes exactly the same,
  and tensor-with-tensor ``+``, ``-``, ``*`` the ``Add``, ``Subtract`` and ``Multiply`` layers.

With ``weights=True`` the model is also loaded (Keras ``safe_mode``), the kerun-built model gets
its weights layer by layer, and they are saved to ``<spec>.weights.h5``, which the spec names as
``train.initial_weights``.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from kerun.errors import Location, Problem, SpecError
from kerun.interop import InteropError
from kerun.spec import catalog, dump_yaml, spec_from_text
from kerun.spec.check import argument_kind
from kerun.spec.model import NAME_PATTERN

__all__ = ["ImportResult", "import_model", "read_model_config", "spec_from_config", "transfer_weights", "weighted_layers"]

MODEL_CLASSES = ("Functional", "Sequential", "Model")
_OP_MODULES = ("keras.src.ops", "keras.ops")
# Values Keras writes into a config where the constructor's default is None.
_NONE_EQUIVALENT = {"activation": "linear", "data_format": "channels_last"}
# Keras's short initializer identifiers that the catalogue does not list as class aliases.
_SHORT_IDENTIFIERS = {"uniform": "random_uniform", "normal": "random_normal", "one": "ones", "zero": "zeros"}
_TUPLE_ARGS = {"kernel_size", "strides", "pool_size", "dilation_rate", "size"}
_MODEL_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"


@dataclass
class ImportResult:
    spec: dict[str, Any]
    text: str
    notes: list[str] = field(default_factory=list)
    spec_path: Path | None = None
    weights_path: Path | None = None


@dataclass(frozen=True)
class _Ref:
    """A tensor in the config: output ``tensor`` of call ``node`` of layer ``layer``."""

    layer: str
    node: int
    tensor: int


@dataclass
class _Entry:
    call: tuple[str, int] | None
    name: str
    auto: bool
    body: dict[str, Any]
    inputs: Any = None
    multi: bool = False
    referenced: bool = False


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


def _is_auto(name: str, class_name: str) -> bool:
    stems = {to_snake_case(class_name)}
    if class_name in MODEL_CLASSES:
        stems |= {"functional", "sequential", "model"}
    if class_name == "InputLayer":
        stems |= {"input_layer", "input", "keras_tensor"}
    return any(re.fullmatch(rf"{re.escape(s)}(_\d+)?", name) for s in stems)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b)


def _is_default(arg: str, value: Any, argdef: catalog.ArgInfo | None) -> bool:
    if argdef is None or argdef.default_repr is not None or argdef.required:
        return False
    default = argdef.default
    if _same(value, default) or (isinstance(value, list) and len(value) == 1 and _same(value[0], default)):
        return True
    kind = argument_kind(arg)
    if kind and isinstance(value, str) and isinstance(default, str):  # 'uniform' is 'random_uniform'
        a = catalog.lookup(kind, _SHORT_IDENTIFIERS.get(value, value))
        b = catalog.lookup(kind, _SHORT_IDENTIFIERS.get(default, default))
        return a is not None and a == b
    return default is None and _NONE_EQUIVALENT.get(arg) == value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _dtype_name(value: Any) -> str | None:
    if isinstance(value, dict):
        cfg = value.get("config")
        return cfg.get("name") if isinstance(cfg, dict) else None
    return value if isinstance(value, str) else None


def _serialized(value: Any) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


# ---------------------------------------------------------------------------------------------
# the conversion


class _Converter:
    def __init__(self, source: str, plugin_names: frozenset[str] = frozenset()) -> None:
        self.source = source
        self.plugin_names = plugin_names
        self.models: dict[str, dict[str, Any]] = {}
        self.problems: list[Problem] = []
        self.notes: list[str] = []
        self._unknown: dict[str, list[str]] = {}

    # -- problems ---------------------------------------------------------------------------

    def problem(self, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(message=message, location=Location(self.source), hint=hint))

    def unknown_class(self, layer: str, item: dict[str, Any]) -> None:
        cls = item["class_name"]
        seen = self._unknown.setdefault(cls, [])
        seen.append(layer)
        if len(seen) > 1:
            return
        module = item.get("module")
        origin = f" (from {module})" if module and not str(module).startswith("keras.layers") else ""
        if cls in ("TFOpLambda", "SlicingOpLambda"):
            self.problem(f"layer {layer!r} is a TensorFlow operation recorded as a {cls} layer; it holds code and kerun cannot express it",
                         hint="rebuild the model with a Keras layer or a plugin layer in its place")
            return
        self.problem(f"layer {layer!r} is a {cls}{origin}, a class from code kerun was not given",
                     hint="give a plugin file that registers it with keras.saving.register_keras_serializable: "
                          "kerun import MODEL --plugins FILE.py")

    # -- models -----------------------------------------------------------------------------

    def model(self, item: dict[str, Any]) -> dict[str, Any]:
        cls, cfg = item["class_name"], item["config"]
        if cls == "Sequential" or ("input_layers" not in cfg and isinstance(cfg.get("layers"), list)):
            return self.sequential(cfg)
        return self.functional(cfg)

    def _input(self, cfg: dict[str, Any]) -> tuple[Any, list[int | None]]:
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if shape is None and cfg.get("shape") is not None:
            shape = [None, *cfg["shape"]]
        if shape is None:
            raise InteropError(f"{self.source}: input {cfg.get('name')!r} has no shape")
        dims = list(shape[1:])
        dtype = _dtype_name(cfg.get("dtype")) or "float32"
        if dtype == "float32" and not cfg.get("sparse"):
            return dims, dims
        out: dict[str, Any] = {"shape": dims, "dtype": dtype}
        if cfg.get("sparse"):
            out["sparse"] = True
        return out, dims

    def sequential(self, cfg: dict[str, Any]) -> dict[str, Any]:
        items = list(cfg.get("layers") or [])
        if items and items[0]["class_name"] == "InputLayer":
            spec_input, _ = self._input(items.pop(0)["config"])
        elif cfg.get("build_input_shape"):
            spec_input, _ = self._input({"batch_shape": cfg["build_input_shape"], "name": cfg.get("name")})
        elif items and items[0]["config"].get("batch_input_shape"):
            spec_input, _ = self._input(items[0]["config"])
        else:
            raise InteropError(f"{self.source}: the Sequential model {cfg.get('name')!r} was never built, so its input shape is unknown",
                               hint="build it first (model.build(input_shape) or a keras.Input as its first layer) and save it again")
        names: set[str] = set()
        layers = []
        for item in items:
            body, name, auto = self.layer(item)
            entry = dict(body)
            if not auto:
                entry = {"name": self._unique(_sanitize(name), names), **entry}
            layers.append(entry)
        return {"inputs": {"x": spec_input}, "layers": layers}

    def functional(self, cfg: dict[str, Any]) -> dict[str, Any]:
        items = cfg["layers"]
        by_name = {_item_name(it): it for it in items}
        input_names = [r[0] for r in _triples(cfg.get("input_layers"))]
        output_refs = [_Ref(*r[:3]) for r in _triples(cfg.get("output_layers"))]
        # the calls of each layer, and the order that respects their inputs (config order otherwise)
        calls: dict[tuple[str, int], tuple[list[Any], dict[str, Any]]] = {}
        for it in items:
            if it["class_name"] == "InputLayer" or _item_name(it) in input_names:
                continue
            for n, node in enumerate(it.get("inbound_nodes") or []):
                calls[(_item_name(it), n)] = _parse_node(node)
        order: list[tuple[str, int]] = []
        state: dict[tuple[str, int], int] = {}

        def visit(key: tuple[str, int]) -> None:
            stack = [(key, False)]
            while stack:
                k, done = stack.pop()
                if done:
                    if state.get(k) != 2:
                        state[k] = 2
                        order.append(k)
                    continue
                if state.get(k):
                    continue
                state[k] = 1
                stack.append((k, True))
                deps = [(r.layer, r.node) for r in _refs(calls[k]) if (r.layer, r.node) in calls]
                for d in reversed(deps):
                    if not state.get(d):
                        stack.append((d, False))

        for key in calls:
            visit(key)

        # inputs: an auto-named single input is called x, as in the spec format's examples
        used_names = {_sanitize(n) for n in by_name}
        inputs: dict[str, Any] = {}
        input_alias: dict[str, str] = {}
        for n in input_names:
            spec_input, _ = self._input(by_name[n]["config"])
            alias = _sanitize(n)
            if len(input_names) == 1 and _is_auto(n, "InputLayer") and "x" not in used_names:
                alias = "x"
            input_alias[n] = alias
            inputs[alias] = spec_input

        taken: set[str] = set(inputs)
        entries: list[_Entry] = []
        by_call: dict[tuple[str, int], _Entry] = {}
        first_call: dict[str, _Entry] = {}
        for key in order:
            lname, node = key
            item = by_name[lname]
            args, kwargs = calls[key]
            if lname in first_call:
                owner = first_call[lname]
                owner.referenced = True
                entry = _Entry(key, self._unique(f"{_sanitize(lname)}_call{node}", taken), True, {"use": owner})
                entry.inputs = self.call_inputs(lname, item, args, kwargs)
                entry.multi = owner.multi
            elif str(item.get("module") or "").startswith(_OP_MODULES):
                body, ins = self.operation(lname, item, args)
                entry = _Entry(key, self._unique(_sanitize(lname), taken), _is_auto(lname, item["class_name"]), body, ins)
            else:
                body, name, auto = self.layer(item)
                entry = _Entry(key, self._unique(_sanitize(name), taken), auto, body)
                entry.inputs = self.call_inputs(lname, item, args, kwargs)
                entry.multi = _multi_output(item)
                first_call[lname] = entry
            entries.append(entry)
            by_call[key] = entry
        for refs in [*(_refs(c) for c in calls.values()), output_refs]:
            for r in refs:
                if r.tensor > 0 and (r.layer, r.node) in by_call:
                    by_call[(r.layer, r.node)].multi = True
        for e in entries:
            if isinstance(e.body.get("use"), _Entry):
                e.multi = e.body["use"].multi

        def mark(r: _Ref) -> None:
            if r.layer not in input_alias:
                by_call[(r.layer, r.node)].referenced = True

        def ref(r: _Ref) -> str:
            if r.layer in input_alias:
                return input_alias[r.layer]
            target = by_call[(r.layer, r.node)]
            return f"{target.name}.{r.tensor}" if target.multi else target.name

        # which entries need their inputs written, and so which names are referred to
        written: list[Any] = []
        previous: _Entry | None = None
        for e in entries:
            single = e.inputs if isinstance(e.inputs, _Ref) else None
            follows = single is not None and single.tensor == 0 and (
                (previous is not None and (single.layer, single.node) == previous.call and not previous.multi)
                or (previous is None and single.layer in input_alias and len(input_names) == 1))
            written.append(None if follows else e.inputs)
            if not follows:
                for r in _refs([e.inputs]):
                    mark(r)
            previous = e
        last = entries[-1] if entries else None
        implied = (len(output_refs) == 1 and last is not None and (output_refs[0].layer, output_refs[0].node) == last.call
                   and not last.multi)
        if not implied:
            for r in output_refs:
                mark(r)
        # a name Keras made up that must stay is renamed out of the way of the names Keras will
        # make up when the spec is built (dense, dense_1 ...): dense1, dense2 ...
        counters: dict[str, int] = {}
        for e in entries:
            if e.referenced and e.auto and "use" not in e.body:
                prefix = re.sub(r"_\d+$", "", e.name)
                taken.discard(e.name)
                while True:
                    counters[prefix] = counters.get(prefix, 0) + 1
                    candidate = f"{prefix}{counters[prefix]}"
                    if candidate not in taken:
                        break
                e.name = candidate
                taken.add(candidate)
        layers: list[dict[str, Any]] = []
        for e, value in zip(entries, written):
            entry: dict[str, Any] = {}
            if e.referenced or not e.auto:
                entry["name"] = e.name
            body = dict(e.body)
            if isinstance(body.get("use"), _Entry):
                body["use"] = body["use"].name
            entry.update(body)
            if value is not None:
                entry["inputs"] = _map_refs(value, ref)
            layers.append(entry)
        spec: dict[str, Any] = {"inputs": inputs, "layers": layers}
        if not implied:
            outs = [ref(r) for r in output_refs]
            spec["outputs"] = outs[0] if len(outs) == 1 else outs
        return spec

    @staticmethod
    def _unique(name: str, taken: set[str]) -> str:
        out, i = name, 1
        while out in taken:
            out = f"{name}_{i}"
            i += 1
        taken.add(out)
        return out

    # -- layers -----------------------------------------------------------------------------

    def layer(self, item: dict[str, Any]) -> tuple[dict[str, Any], str, bool]:
        """(entry body without name and inputs, the layer's name, whether Keras made the name up)."""
        cls, cfg = item["class_name"], dict(item.get("config") or {})
        name = str(cfg.get("name") or item.get("name") or to_snake_case(cls))
        auto = _is_auto(name, cls)
        if cls in MODEL_CLASSES and isinstance(cfg.get("layers"), list):
            key = self.submodel(item, name)
            body: dict[str, Any] = {"type": key}
            if cfg.get("trainable") is False:
                body["trainable"] = False
            return body, name, auto
        module = str(item.get("module") or "")
        custom_module = module and not module.startswith("keras")
        info = None if custom_module else catalog.lookup("layer", cls)
        if info is not None and info.unsafe:
            self.problem(f"layer {name!r} is a {cls} layer: it holds Python code, which kerun refuses",
                         hint="write the computation as a layer class in a plugin file, registered with "
                              "keras.saving.register_keras_serializable, use it in the model, and import again with --plugins FILE.py")
            return {"type": cls}, name, auto
        plugin_cls = None
        type_name = info.name if info is not None else cls
        if info is None:
            plugin_cls, type_name = _plugin_class(item, self.plugin_names)
            if plugin_cls is None:
                self.unknown_class(name, item)
                return {"type": cls}, name, auto
        body = {"type": type_name, **self.arguments(cls, cfg, info, plugin_cls, name)}
        return body, name, auto

    def arguments(self, cls: str, cfg: dict[str, Any], info: catalog.ClassInfo | None, plugin_cls: type | None, layer: str) -> dict[str, Any]:
        defaults: dict[str, catalog.ArgInfo] = dict(info.args) if info is not None else _plugin_defaults(plugin_cls)
        out: dict[str, Any] = {}
        for arg, value in cfg.items():
            if arg in ("name", "batch_input_shape", "batch_shape", "build_config"):
                continue
            if arg == "dtype":
                dname = _dtype_name(value)
                if dname not in (None, "float32"):
                    out["dtype"] = dname
                continue
            if arg == "trainable" and value is True:
                continue
            if arg == "strides" and cfg.get("pool_size") is not None and _same(value, cfg.get("pool_size")):
                argdef = defaults.get(arg)
                if argdef is not None and argdef.default is None:
                    continue
            value = self.value(arg, value, layer)
            if _is_default(arg, value, defaults.get(arg)):
                continue
            if value is None and arg not in defaults:
                continue
            if arg in _TUPLE_ARGS and isinstance(value, list) and value and all(_same(v, value[0]) for v in value) and isinstance(value[0], int):
                value = value[0]
            out[arg] = value
        return out

    def value(self, arg: str, value: Any, layer: str) -> Any:
        if isinstance(value, list):
            return [self.value(arg, v, layer) for v in value]
        if not _serialized(value):
            return value
        kind = argument_kind(arg)
        cls, cfg = value["class_name"], value.get("config")
        if kind == "layer":
            body, name, auto = self.layer(value)
            return body if auto else {**body, "name": name}
        if cls == "function" or kind == "activation":
            fname = cfg if isinstance(cfg, str) else (cfg or {}).get("name") if isinstance(cfg, dict) else None
            if isinstance(fname, str) and catalog.is_identifier("activation", fname):
                return fname
            self.problem(f"layer {layer!r}: {arg} is the Python function {fname or cls!r}, which kerun cannot name",
                         hint="use one of Keras's activations, or an activation layer class from a plugin")
            return fname or cls
        infos = [catalog.lookup(kind, cls)] if kind else catalog.find_class(cls)
        info = next((i for i in infos if i is not None), None)
        if info is None:
            return {"type": cls, **(cfg if isinstance(cfg, dict) else {})}
        args = {k: self.value(k, v, layer) for k, v in (cfg or {}).items()}
        args = {k: v for k, v in args.items() if not _is_default(k, v, info.args.get(k))}
        snake = to_snake_case(cls)
        if not args and catalog.is_identifier(info.kind, snake):
            return snake
        return {"type": info.name, **args}

    def call_inputs(self, lname: str, item: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        tensor_kwargs: dict[str, Any] = {}
        for key, val in kwargs.items():
            if _has_ref(val):
                tensor_kwargs[key] = val
            elif val is None or key == "mask":
                continue
            elif key == "training":
                self.notes.append(f"layer {lname!r} was called with training={val}; a spec cannot say that, so it was left out")
            else:
                self.problem(f"layer {lname!r} is called with {key}={val!r}, which a spec cannot pass",
                             hint="only tensors can be passed to a layer's call in a spec (an 'inputs:' mapping)")
        for a in args:
            if not _has_ref(a):
                self.problem(f"layer {lname!r} is called with the constant {a!r}, which a spec cannot pass")
        tensors = [a for a in args if _has_ref(a)]
        if not tensor_kwargs and len(tensors) == 1:
            return tensors[0]
        params = _call_params(item, self.plugin_names)
        mapping: dict[str, Any] = {}
        for i, a in enumerate(tensors):
            if i >= len(params):
                self.problem(f"layer {lname!r} is called with {len(tensors)} positional tensors, more than its call takes")
                break
            mapping[params[i]] = a
        mapping.update(tensor_kwargs)
        return mapping

    def operation(self, lname: str, item: dict[str, Any], args: list[Any]) -> tuple[dict[str, Any], Any]:
        cls = item["class_name"]
        refs = [a for a in args if isinstance(a, _Ref)]
        consts = [a for a in args if _is_number(a)]
        if cls in ("Add", "Subtract", "Multiply") and len(args) == 2:
            if len(refs) == 2:
                return {"type": cls}, refs
            if len(refs) == 1 and len(consts) == 1:
                c = float(consts[0])
                tensor_first = isinstance(args[0], _Ref)
                if cls == "Add":
                    return {"type": "Rescaling", "scale": 1.0, "offset": c}, refs[0]
                if cls == "Multiply":
                    return {"type": "Rescaling", "scale": c}, refs[0]
                if tensor_first:
                    return {"type": "Rescaling", "scale": 1.0, "offset": -c}, refs[0]
                return {"type": "Rescaling", "scale": -1.0, "offset": c}, refs[0]
        self.problem(f"{lname!r} is the operation keras.ops {cls} applied to tensors, which has no layer to express it",
                     hint="write it as a layer class in a plugin file and import again with --plugins FILE.py")
        return {"type": "Identity"}, refs[0] if refs else None

    def submodel(self, item: dict[str, Any], name: str) -> str:
        spec = self.model(item)
        for key, existing in self.models.items():
            if existing == spec:
                return key
        base = re.sub(r"\W", "_", name)
        if not re.match(_MODEL_KEY, base):
            base = f"m_{base}"
        key, i = base, 1
        while key in self.models or catalog.lookup("layer", key):
            key = f"{base}_{i}"
            i += 1
        self.models[key] = spec
        return key


def _item_name(item: dict[str, Any]) -> str:
    return str(item.get("name") or item.get("config", {}).get("name"))


def _triples(value: Any) -> list[list[Any]]:
    if not value:
        return []
    if isinstance(value, dict):  # a model built with inputs or outputs in a dict
        return [list(v) for v in value.values()]
    if isinstance(value[0], str):
        return [value]
    return [list(v) for v in value]


def _tensor_ref(value: Any) -> _Ref | None:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        h = value["config"]["keras_history"]
        return _Ref(str(h[0]), int(h[1]), int(h[2]))
    if isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) and all(isinstance(v, int) for v in value[1:3]):
        return _Ref(value[0], value[1], value[2])
    return None


def _convert_refs(value: Any) -> Any:
    r = _tensor_ref(value)
    if r is not None:
        return r
    if isinstance(value, list):
        return [_convert_refs(v) for v in value]
    if isinstance(value, dict):
        return {k: _convert_refs(v) for k, v in value.items()}
    return value


def _parse_node(node: Any) -> tuple[list[Any], dict[str, Any]]:
    """A call's positional and keyword arguments, tensors as :class:`_Ref` (Keras 3 and Keras 2 forms)."""
    if isinstance(node, dict):
        return [_convert_refs(a) for a in node.get("args", [])], {k: _convert_refs(v) for k, v in (node.get("kwargs") or {}).items()}
    refs = [_Ref(n[0], n[1], n[2]) for n in node]
    kwargs = node[0][3] if node and len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    return ([refs[0]] if len(refs) == 1 else [refs]), {k: _convert_refs(v) for k, v in kwargs.items()}


def _refs(call: tuple[list[Any], dict[str, Any]] | list[Any]) -> list[_Ref]:
    out: list[_Ref] = []

    def walk(v: Any) -> None:
        if isinstance(v, _Ref):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(call)
    return out


def _has_ref(value: Any) -> bool:
    return bool(_refs([value]))


def _map_refs(value: Any, fn: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, _Ref):
        return fn(value)
    if isinstance(value, list):
        return [_map_refs(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_refs(v, fn) for k, v in value.items()}
    return value


def _multi_output(item: dict[str, Any]) -> bool:
    cfg = item.get("config") or {}
    if cfg.get("return_state") or cfg.get("return_attention_scores"):
        return True
    if item["class_name"] in MODEL_CLASSES and isinstance(cfg.get("output_layers"), list):
        return len(_triples(cfg["output_layers"])) > 1
    return False


def _plugin_class(item: dict[str, Any], names: frozenset[str]) -> tuple[type | None, str]:
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


def _plugin_defaults(cls: type | None) -> dict[str, catalog.ArgInfo]:
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


def _call_params(item: dict[str, Any], names: frozenset[str] = frozenset()) -> list[str]:
    """The positional parameters of the layer class's ``call``, after ``self``."""
    cls: type | None = None
    info = catalog.lookup("layer", item["class_name"])
    if info is not None:
        import importlib

        cls = getattr(importlib.import_module(info.module), info.name, None)
    else:
        cls, _ = _plugin_class(item, names)
    if cls is None:
        return ["inputs"]
    params = list(inspect.signature(cls.call).parameters.values())[1:]
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _sanitize(name: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_\-]", "_", name)
    if not re.match(NAME_PATTERN, out):
        out = f"_{out}"
    return out


def _run_name(name: str) -> str | None:
    out = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    return out or None


def spec_from_config(data: dict[str, Any], *, source: str = "<model>", plugins: Sequence[str] = (),
                     plugin_names: frozenset[str] = frozenset()) -> tuple[dict[str, Any], list[str]]:
    """The spec (a dict, ready for :func:`kerun.spec.dump_yaml`) for a model configuration, and notes.

    Plugins a model needs must be imported already, and ``plugin_names`` hold the class names they
    register; ``plugins`` is written into the spec."""
    conv = _Converter(source, plugin_names)
    cls = data["class_name"]
    cfg = data["config"]
    if cls not in MODEL_CLASSES or not isinstance(cfg.get("layers"), list):
        raise InteropError(f"{source}: the model is a {cls}, not a Functional or Sequential model", location=Location(source),
                           hint="kerun imports models built from layers (keras.Sequential or the functional API); "
                                "a subclassed model can be used in a spec as a plugin layer")
    model = conv.model(data)
    for cls_name, layers in conv._unknown.items():
        if len(layers) > 1:
            conv.notes.append(f"{len(layers)} layers are {cls_name}s: {', '.join(layers[:5])}{' ...' if len(layers) > 5 else ''}")
    if conv.problems:
        err = InteropError(conv.problems[0].message, location=conv.problems[0].location, hint=conv.problems[0].hint)
        err.problems = conv.problems
        raise err
    spec: dict[str, Any] = {}
    name = str(cfg.get("name") or "")
    if name and not _is_auto(name, cls):
        run = _run_name(name)
        if run:
            spec["name"] = run
    if plugins:
        spec["plugins"] = list(plugins)
    if conv.models:
        spec["models"] = conv.models
    spec["model"] = model
    return spec, conv.notes


# ---------------------------------------------------------------------------------------------
# weights


def weighted_layers(model: Any) -> list[Any]:
    """The layers that hold weights, in order, with nested Functional/Sequential models opened."""
    import keras
    from keras.src.models.functional import Functional

    out: list[Any] = []
    for layer in model.layers:
        if isinstance(layer, (keras.Sequential, Functional)):
            out.extend(weighted_layers(layer))
        elif layer.weights:
            out.append(layer)
    return out


def transfer_weights(source: Any, target: Any) -> int:
    """Copy the weights of ``source`` into ``target`` layer by layer; the number of arrays copied.

    Layers are paired by name where the name is not one Keras made up and is unique on both sides
    (the spec keeps such names), the rest in order. Raises :class:`InteropError` when a pair differs in
    class or weight shapes, or the two do not have as many layers with weights."""
    src, dst = weighted_layers(source), weighted_layers(target)
    if len(src) != len(dst):
        raise InteropError(f"the models have {len(src)} and {len(dst)} layers with weights; they cannot share weights")

    def unique(layers: list[Any]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for layer in layers:
            counts[layer.name] = counts.get(layer.name, 0) + 1
        return {layer.name: layer for layer in layers
                if counts[layer.name] == 1 and not _is_auto(layer.name, type(layer).__name__)}

    named_src, named_dst = unique(src), unique(dst)
    pairs = {id(a): named_dst[n] for n, a in named_src.items()
             if n in named_dst and type(named_dst[n]).__name__ == type(a).__name__}
    taken = {id(b) for b in pairs.values()}
    rest = iter([b for b in dst if id(b) not in taken])
    copied = 0
    for a in src:
        b = pairs.get(id(a)) or next(rest)
        wa, wb = a.get_weights(), b.get_weights()
        if type(a).__name__ != type(b).__name__ or [w.shape for w in wa] != [w.shape for w in wb]:
            raise InteropError(f"layer {a.name!r} ({type(a).__name__}) does not match {b.name!r} ({type(b).__name__}) in the built model")
        b.set_weights(wa)
        copied += len(wa)
    return copied


# ---------------------------------------------------------------------------------------------
# the whole import


def _plugin_entries(plugins: Sequence[str | Path], spec_dir: Path) -> list[str]:
    out = []
    for p in plugins:
        text = str(p)
        if text.endswith(".py") or os.sep in text or "/" in text:
            path = Path(text).expanduser().resolve()
            if not path.is_file():
                raise InteropError(f"no plugin file {text!r}")
            out.append(Path(os.path.relpath(path, spec_dir)).as_posix())
        else:
            out.append(text)
    return out


def _load_plugins(entries: list[str], spec_file: Path) -> frozenset[str]:
    """Import the plugins; the names (short and ``package>Name``) of the classes they register."""
    from kerun.model.plugins import load_plugins
    from kerun.spec.plugins import scan_plugins

    stub = {"plugins": entries, "model": {"inputs": {"x": [1]}, "layers": [{"type": "Flatten"}]}}
    try:
        loaded = spec_from_text(dump_yaml(stub), file=str(spec_file))
    except SpecError as exc:
        raise InteropError(exc.problems[0].message, hint=exc.problems[0].hint) from None
    load_plugins(loaded)
    found, _ = scan_plugins(loaded.spec.plugins, loaded.doc, loaded.base_dir)
    return frozenset(found)


def import_model(model_path: Path, output: Path | None = None, *, weights: bool = False,
                 plugins: Sequence[str | Path] = (), overwrite: bool = False) -> ImportResult:
    """Read ``model_path``, write the spec to ``output`` (and the weights beside it with ``weights``).

    Without ``output`` nothing is written and the result holds the spec's text."""
    from kerun.run.rundir import atomic_write

    spec_file = (output if output is not None else Path.cwd() / "imported.yaml").resolve()
    if output is not None and output.exists() and not overwrite:
        raise InteropError(f"{output} exists already", hint="choose another -o, or pass --force to replace it")
    if weights and output is None:
        raise InteropError("--weights needs -o SPEC.yaml: the weights file goes beside the spec")
    entries = _plugin_entries(plugins, spec_file.parent)
    names = _load_plugins(entries, spec_file) if entries else frozenset()
    config = read_model_config(model_path)
    spec, notes = spec_from_config(config, source=str(model_path), plugins=entries, plugin_names=names)
    header = f"# Imported from {model_path.name} by kerun import.\n"
    text = header + dump_yaml(spec)
    try:
        loaded = spec_from_text(text, file=str(spec_file))
    except SpecError as exc:
        raise InteropError(f"the spec made from {model_path} does not validate (a kerun bug; please report it):\n{exc.render()}") from None
    result = ImportResult(spec=spec, text=text, notes=notes)
    if weights:
        if model_path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
            raise InteropError(f"{model_path} holds no weights", hint="--weights needs a .keras or .h5 file")
        weights_file = spec_file.with_name(spec_file.name.rsplit(".", 1)[0] + ".weights.h5")
        _write_weights(model_path, loaded, weights_file)
        spec.setdefault("train", {})["initial_weights"] = weights_file.name
        result.text = text = header + dump_yaml(spec)
        result.weights_path = weights_file
    if output is not None:
        atomic_write(output, text)
        result.spec_path = output
    return result


def _write_weights(model_path: Path, loaded: Any, target: Path) -> None:
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from kerun.model.model import build_model

    try:
        original = keras.models.load_model(model_path, safe_mode=True, compile=False)
    except (ValueError, TypeError, OSError) as exc:
        raise InteropError(f"cannot load the weights of {model_path}: {str(exc).splitlines()[0]}") from None
    built = build_model(loaded)
    transfer_weights(original, built.model)
    tmp = Path(tempfile.mkdtemp(prefix=".kerun-weights-", dir=target.parent))
    try:
        built.model.save_weights(tmp / target.name)
        os.replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
