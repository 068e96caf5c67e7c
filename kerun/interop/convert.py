"""A Keras model configuration becomes the spec a person would write (:func:`spec_from_config`).

A straight chain stays a plain list, arguments at their defaults are left out, made-up names are
dropped unless referred to, nested models become ``models:`` entries and shared layers ``use:``,
and scalar arithmetic recorded as operations becomes ``Rescaling``; see :mod:`kerun.interop.importer`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from kerun.errors import InteropError, Location, Problem
from kerun.interop.keras_config import (
    MODEL_CLASSES,
    MODEL_KEY,
    OP_MODULES,
    TUPLE_ARGS,
    Ref,
    call_params,
    dtype_name,
    has_ref,
    is_auto,
    is_default,
    is_number,
    is_serialized,
    item_name,
    map_refs,
    multi_output,
    parse_node,
    plugin_class,
    plugin_defaults,
    same_value,
    tensor_refs,
    to_snake_case,
    triples,
)
from kerun.spec import catalog
from kerun.spec.refs import argument_kind
from kerun.spec.model import NAME_PATTERN

__all__ = ["spec_from_config"]

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
        dtype = dtype_name(cfg.get("dtype")) or "float32"
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
        by_name = {item_name(it): it for it in items}
        input_names = [r[0] for r in triples(cfg.get("input_layers"))]
        output_refs = [Ref(*r[:3]) for r in triples(cfg.get("output_layers"))]
        # the calls of each layer, and the order that respects their inputs (config order otherwise)
        calls: dict[tuple[str, int], tuple[list[Any], dict[str, Any]]] = {}
        for it in items:
            if it["class_name"] == "InputLayer" or item_name(it) in input_names:
                continue
            for n, node in enumerate(it.get("inbound_nodes") or []):
                calls[(item_name(it), n)] = parse_node(node)
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
                deps = [(r.layer, r.node) for r in tensor_refs(calls[k]) if (r.layer, r.node) in calls]
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
            if len(input_names) == 1 and is_auto(n, "InputLayer") and "x" not in used_names:
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
            elif str(item.get("module") or "").startswith(OP_MODULES):
                body, ins = self.operation(lname, item, args)
                entry = _Entry(key, self._unique(_sanitize(lname), taken), is_auto(lname, item["class_name"]), body, ins)
            else:
                body, name, auto = self.layer(item)
                entry = _Entry(key, self._unique(_sanitize(name), taken), auto, body)
                entry.inputs = self.call_inputs(lname, item, args, kwargs)
                entry.multi = multi_output(item)
                first_call[lname] = entry
            entries.append(entry)
            by_call[key] = entry
        for refs in [*(tensor_refs(c) for c in calls.values()), output_refs]:
            for r in refs:
                if r.tensor > 0 and (r.layer, r.node) in by_call:
                    by_call[(r.layer, r.node)].multi = True
        for e in entries:
            if isinstance(e.body.get("use"), _Entry):
                e.multi = e.body["use"].multi

        def mark(r: Ref) -> None:
            if r.layer not in input_alias:
                by_call[(r.layer, r.node)].referenced = True

        def ref(r: Ref) -> str:
            if r.layer in input_alias:
                return input_alias[r.layer]
            target = by_call[(r.layer, r.node)]
            return f"{target.name}.{r.tensor}" if target.multi else target.name

        # which entries need their inputs written, and so which names are referred to
        written: list[Any] = []
        previous: _Entry | None = None
        for e in entries:
            single = e.inputs if isinstance(e.inputs, Ref) else None
            follows = single is not None and single.tensor == 0 and (
                (previous is not None and (single.layer, single.node) == previous.call and not previous.multi)
                or (previous is None and single.layer in input_alias and len(input_names) == 1))
            written.append(None if follows else e.inputs)
            if not follows:
                for r in tensor_refs([e.inputs]):
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
                entry["inputs"] = map_refs(value, ref)
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
        auto = is_auto(name, cls)
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
            plugin_cls, type_name = plugin_class(item, self.plugin_names)
            if plugin_cls is None:
                self.unknown_class(name, item)
                return {"type": cls}, name, auto
        body = {"type": type_name, **self.arguments(cls, cfg, info, plugin_cls, name)}
        return body, name, auto

    def arguments(self, cls: str, cfg: dict[str, Any], info: catalog.ClassInfo | None, plugin_cls: type | None, layer: str) -> dict[str, Any]:
        defaults: dict[str, catalog.ArgInfo] = dict(info.args) if info is not None else plugin_defaults(plugin_cls)
        out: dict[str, Any] = {}
        for arg, value in cfg.items():
            if arg in ("name", "batch_input_shape", "batch_shape", "build_config"):
                continue
            if arg == "dtype":
                dname = dtype_name(value)
                if dname not in (None, "float32"):
                    out["dtype"] = dname
                continue
            if arg == "trainable" and value is True:
                continue
            if arg == "strides" and cfg.get("pool_size") is not None and same_value(value, cfg.get("pool_size")):
                argdef = defaults.get(arg)
                if argdef is not None and argdef.default is None:
                    continue
            value = self.value(arg, value, layer)
            if is_default(arg, value, defaults.get(arg)):
                continue
            if value is None and arg not in defaults:
                continue
            if arg in TUPLE_ARGS and isinstance(value, list) and value and all(same_value(v, value[0]) for v in value) and isinstance(value[0], int):
                value = value[0]
            out[arg] = value
        return out

    def value(self, arg: str, value: Any, layer: str) -> Any:
        if isinstance(value, list):
            return [self.value(arg, v, layer) for v in value]
        if not is_serialized(value):
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
        args = {k: v for k, v in args.items() if not is_default(k, v, info.args.get(k))}
        snake = to_snake_case(cls)
        if not args and catalog.is_identifier(info.kind, snake):
            return snake
        return {"type": info.name, **args}

    def call_inputs(self, lname: str, item: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
        tensor_kwargs: dict[str, Any] = {}
        for key, val in kwargs.items():
            if has_ref(val):
                tensor_kwargs[key] = val
            elif val is None or key == "mask":
                continue
            elif key == "training":
                self.notes.append(f"layer {lname!r} was called with training={val}; a spec cannot say that, so it was left out")
            else:
                self.problem(f"layer {lname!r} is called with {key}={val!r}, which a spec cannot pass",
                             hint="only tensors can be passed to a layer's call in a spec (an 'inputs:' mapping)")
        for a in args:
            if not has_ref(a):
                self.problem(f"layer {lname!r} is called with the constant {a!r}, which a spec cannot pass")
        tensors = [a for a in args if has_ref(a)]
        if not tensor_kwargs and len(tensors) == 1:
            return tensors[0]
        params = call_params(item, self.plugin_names)
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
        refs = [a for a in args if isinstance(a, Ref)]
        consts = [a for a in args if is_number(a)]
        if cls in ("Add", "Subtract", "Multiply") and len(args) == 2:
            if len(refs) == 2:
                return {"type": cls}, refs
            if len(refs) == 1 and len(consts) == 1:
                c = float(consts[0])
                tensor_first = isinstance(args[0], Ref)
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
        if not re.match(MODEL_KEY, base):
            base = f"m_{base}"
        key, i = base, 1
        while key in self.models or catalog.lookup("layer", key):
            key = f"{base}_{i}"
            i += 1
        self.models[key] = spec
        return key

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
    if name and not is_auto(name, cls):
        run = _run_name(name)
        if run:
            spec["name"] = run
    if plugins:
        spec["plugins"] = list(plugins)
    if conv.models:
        spec["models"] = conv.models
    spec["model"] = model
    return spec, conv.notes
