"""Checks beyond the shape of a spec: Keras names and arguments, and the model graph.

Everything here works from the committed catalogue of Keras names (:mod:`kerun.spec.catalog`)
and a static reading of the plugins (:mod:`kerun.spec.plugins`): no TensorFlow, no user code.
Each check appends located :class:`~kerun.errors.Problem` objects; nothing stops at the first.
"""

from __future__ import annotations

import copy
import math
from functools import cache
from pathlib import Path
from typing import Any, Iterable

from kerun.errors import Problem
from kerun.spec import catalog
from kerun.spec.base import INT32_LIMIT
from kerun.spec.callback_paths import CALLBACK_PATHS, HINT as PATH_HINT, path_problem
from kerun.spec.data import FIELD_SPEC_KEYS
from kerun.spec.loader import Document
from kerun.spec.overrides import resolve_path
from kerun.spec.model import ModelSpec
from kerun.spec.plugins import FUNCTION_KINDS, FUNCTION_OPTIONS, PluginClass, scan_plugins
from kerun.spec.refs import KIND_WORDS, MODEL_ARG_KEYS, argument_kind, model_arg_refs, split_ref  # re-exported: the one definition is refs.py
from kerun.spec.root import KerunSpec
from kerun.spec.suggest import did_you_mean, nearest

__all__ = ["argument_kind", "check_spec", "split_ref"]

Path_ = tuple[str | int, ...]

_POSITIVE_INT = {"units", "filters", "output_dim", "input_dim", "num_heads", "key_dim", "num_classes", "max_tokens"}
_POSITIVE_INTS = {"kernel_size", "pool_size", "strides", "dilation_rate", "size", "target_shape"}
_UNIT_INTERVAL_OPEN = {"rate", "dropout", "recurrent_dropout"}

# Arguments the run fills in when the spec leaves them out: paths inside the run directory.
RUN_PROVIDED = {(name, arg) for name, (arg, _default) in CALLBACK_PATHS.items()}


@cache
def _base_layer_args() -> frozenset[str]:
    """The keyword arguments every Keras layer accepts (what Dense, Flatten and Dropout share)."""
    sets = [set(info.args) for n in ("Dense", "Flatten", "Dropout") if (info := catalog.lookup("layer", n))]
    return frozenset(set.intersection(*sets)) if sets else frozenset({"name", "dtype", "trainable"})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Checker:
    def __init__(self, spec: KerunSpec, doc: Document, spec_dir: Path) -> None:
        self.spec = spec
        self.doc = doc
        self.spec_dir = spec_dir
        self.problems: list[Problem] = []
        self.plugins: dict[str, list[PluginClass]] = {}
        self.plugins_broken = False
        #: In the model being checked: each sub-model entry with several outputs, and their names.
        self._sub_outputs: dict[str, list[str]] = {}

    def add(self, path: Path_, message: str, *, hint: str | None = None, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, hint=hint, key=key))

    # -- plugins -----------------------------------------------------------------------------

    def plugin(self, name: str, kind: str | None) -> PluginClass | None:
        # A registered function is never a class: only where Keras takes a callable (FUNCTION_KINDS).
        matches = [c for c in self.plugins.get(name, []) if (c.kind in (None, kind) if kind else c.kind != "function")
                   or (c.kind == "function" and kind in FUNCTION_KINDS)]
        unique = {c.registered_name: c for c in matches}
        return next(iter(unique.values())) if len(unique) == 1 else None

    def plugin_names(self, kind: str | None) -> list[str]:
        return [n for n, cs in self.plugins.items() if any((c.kind in (None, kind) if kind else c.kind != "function")
                                                           or (c.kind == "function" and kind in FUNCTION_KINDS) for c in cs)]

    # -- Keras objects -----------------------------------------------------------------------

    def check_object(self, value: Any, path: Path_, kind: str) -> None:
        """A Keras object of ``kind``: its identifier or a ``{type: ..., **args}`` mapping."""
        word = KIND_WORDS[kind]
        if isinstance(value, str):
            if catalog.is_identifier(kind, value) or catalog.lookup(kind, value) or self.plugin(value, kind):
                info = catalog.lookup(kind, value)
                if info is not None and info.unsafe:
                    self._unsafe(path, info.name)
                return
            if kind == "layer" and value in self.spec.models:
                return
            candidates = [*catalog.identifiers(kind), *catalog.class_names(kind), *self.plugin_names(kind)]
            self.add(path, f"unknown {word} {value!r}", hint=did_you_mean(value, candidates) or self._other_kind(value, kind))
            return
        if not isinstance(value, dict):
            self.add(path, f"expected a {word} name or a mapping with 'type:', got {type(value).__name__}")
            return
        type_name = value.get("type")
        if not isinstance(type_name, str):
            self.add(path, f"a {word} mapping needs 'type:' naming the class")
            return
        self.check_args(type_name, {k: v for k, v in value.items() if k != "type"}, path, kind, type_path=path + ("type",))

    def _unsafe(self, path: Path_, name: str) -> None:
        self.add(
            path,
            f"{name} layers carry Python code and are refused",
            hint="write the computation as a custom layer in a plugin file and list it under 'plugins:'",
        )

    def _other_kind(self, name: str, kind: str) -> str | None:
        for other in catalog.find_class(name):
            if other.kind != kind:
                return f"{name!r} is a Keras {KIND_WORDS[other.kind]}, not a {KIND_WORDS[kind]}"
        return None

    def check_args(self, type_name: str, args: dict[str, Any], path: Path_, kind: str | None, *, type_path: Path_) -> None:
        """Check ``type_name`` exists for ``kind`` (any kind if None) and its arguments."""
        if type_name in self.spec.models and kind in (None, "layer"):  # encoder: {type: encoder}
            for extra in sorted(set(args) - MODEL_ARG_KEYS):
                self.add(path + (extra,), f"a sub-model given as an argument takes only {' and '.join(sorted(MODEL_ARG_KEYS))}, "
                         f"got {extra!r}", key=True)
            return
        infos = [catalog.lookup(kind, type_name)] if kind else catalog.find_class(type_name)
        info = next((i for i in infos if i is not None), None)
        plugin = None if info else self.plugin(type_name, kind)
        if info is None and plugin is None:
            word = KIND_WORDS[kind] if kind else "Keras class"
            candidates = [*(catalog.class_names(kind) if kind else []), *self.plugin_names(kind),
                          *(self.spec.models if kind in (None, "layer") else [])]
            hint = did_you_mean(type_name, candidates) or (self._other_kind(type_name, kind) if kind else None)
            if self.plugins_broken:
                hint = "it may come from a plugin that could not be found (see above)"
            elif hint is None and not self.spec.plugins:
                hint = "custom classes must come from a file or module listed under 'plugins:'"
            self.add(type_path, f"unknown {word} {type_name!r}", hint=hint)
            return
        if info is not None and info.unsafe:
            self._unsafe(type_path, info.name)
            return
        if info is not None:
            allowed: Iterable[str] = info.args
            open_args = info.var_kwargs
            owner = info.name
            defaults = info.args
        else:
            assert plugin is not None
            allowed = set(plugin.args)
            base = catalog.lookup(plugin.kind or "layer", plugin.base or "") if plugin.base else None
            if plugin.var_kwargs:
                allowed |= set(base.args) if base else (_base_layer_args() if plugin.kind == "layer" else set())
            open_args = plugin.var_kwargs and base is None and plugin.kind != "layer"
            owner = plugin.name
            defaults = {}
        allowed = set(allowed)
        meant: set[str] = set()
        for arg, val in args.items():
            apath = path + (arg,)
            if arg not in allowed and not open_args:
                near = nearest(str(arg), allowed)
                meant.add(near or "")
                self.add(apath, f"{owner} has no argument {arg!r}",
                         hint=f"did you mean {near!r}?" if near else f"its arguments: {', '.join(sorted(allowed))}", key=True)
                continue
            self.check_value(arg, val, apath, owner, defaults.get(arg))
        if info is not None:
            missing = [a.name for a in info.args.values()
                       if a.required and a.name not in args and a.name not in meant and (info.name, a.name) not in RUN_PROVIDED]
            for name in missing:
                self.add(type_path, f"{info.name} needs the argument {name!r}")
        elif plugin is not None and plugin.kind != "function":
            for name in sorted(plugin.required - set(args) - meant):
                self.add(type_path, f"{plugin.name} needs the argument {name!r}",
                         hint=f"its __init__ ({Path(plugin.file).name}, line {plugin.line}) has no default for it")

    def check_value(self, arg: str, val: Any, path: Path_, owner: str, argdef: Any) -> None:
        if isinstance(val, float) and not math.isfinite(val):
            self.add(path, f"expected a finite number, got {val}")
            return
        if (val is None and argdef is not None and not argdef.required and argdef.default is None
                and argdef.default_repr is None):
            return  # null is what Keras itself defaults to here (MaxPooling2D's strides: null)
        arg_kind = argument_kind(arg)
        if arg == "learning_rate":
            if isinstance(val, dict):
                self.check_object(val, path, "schedule")
            elif not _is_number(val) or val <= 0:
                self.add(path, f"expected a positive number or a schedule mapping, got {val!r}")
            return
        if arg_kind and (isinstance(val, str) or isinstance(val, dict)):
            if val is not None:
                self.check_object(val, path, arg_kind)
            return
        if isinstance(val, dict) and "type" in val:
            self.check_args(str(val["type"]), {k: v for k, v in val.items() if k != "type"}, path, None, type_path=path + ("type",))
            return
        if arg in _POSITIVE_INT:
            if not (isinstance(val, int) and not isinstance(val, bool) and 0 < val < INT32_LIMIT):
                self.add(path, f"expected a positive integer below 2**31, got {_short(val)}")
            return
        if arg in _POSITIVE_INTS:
            items = val if isinstance(val, list) else [val]
            if not items or not all(isinstance(v, int) and not isinstance(v, bool) and v < INT32_LIMIT
                                    and (v > 0 or (arg == "target_shape" and v == -1)) for v in items):
                self.add(path, f"expected a positive integer or a list of them, got {_short(val)}")
            return
        if arg in _UNIT_INTERVAL_OPEN and owner not in ("GaussianNoise",):
            if not (_is_number(val) and 0 <= val < 1):
                self.add(path, f"expected a number from 0 up to (not including) 1, got {val!r}")
            return
        if arg in FUNCTION_OPTIONS and isinstance(val, str):
            if val not in FUNCTION_OPTIONS[arg] and not self.plugin(val, "function"):
                self.add(path, f"unknown {arg} {val!r}: expected {', '.join(FUNCTION_OPTIONS[arg])} or a plugin function",
                         hint=did_you_mean(val, [*FUNCTION_OPTIONS[arg], *self.plugin_names("function")])
                         or "register the function in a plugin with @keras.saving.register_keras_serializable()")
            return
        expected = getattr(argdef, "type", None)
        if isinstance(val, str) and val in self.spec.models and expected in (None, "null", "other") and arg != "name":
            self.add(path, f"{owner}'s argument {arg!r} would receive the string {val!r}, not the sub-model",
                     hint=f"to pass a fresh instance of the sub-model {val!r}, write {arg}: {{type: {val}}}")
            return
        if val is None or expected in (None, "null", "other"):
            return
        ok = {
            "bool": lambda v: isinstance(v, bool),
            # an integer default does not make a float wrong (MaxNorm(max_value=2) takes 2.5)
            "int": lambda v: _is_number(v) or (isinstance(v, list) and all(_is_number(x) for x in v)),
            "float": _is_number,
            # a required argument documented as a float or an integer (Rescaling's scale)
            "number": lambda v: _is_number(v) or (isinstance(v, list) and bool(v) and all(_is_number(x) for x in v)),
            "str": lambda v: isinstance(v, str),
        }.get(expected, lambda v: True)(val)  # "list" defaults (pool_size=(2, 2)) take a number too
        if not ok:
            words = {"bool": "true or false", "int": "a number", "float": "a number", "number": "a number", "str": "a string"}
            self.add(path, f"expected {words[expected]}, got {val!r}")

    # -- models ------------------------------------------------------------------------------

    def check_model(self, model: ModelSpec, path: Path_) -> None:
        inputs = list(model.inputs)
        entries = model.layers
        later: dict[str, int] = {e.name: i for i, e in enumerate(entries) if e.name}
        defined: dict[str, int | None] = {name: None for name in inputs}  # name -> entry index (None: input)
        used_inputs: set[str] = set()
        # the output names of each entry that is a sub-model of models: (enc.1, enc.z_mean pick one)
        self._sub_outputs = {e.name: self.spec.models[e.type].output_names() for e in entries
                             if e.name and e.type in self.spec.models and isinstance(self.spec.models[e.type].outputs, list)
                             and len(self.spec.models[e.type].output_names()) > 1}
        for i, entry in enumerate(entries):
            epath = path + ("layers", i)
            refs = entry.input_refs()
            if refs is None:
                if i == 0:
                    if len(inputs) == 1:
                        used_inputs.add(inputs[0])
                    else:
                        self.add(epath, f"the first entry needs 'inputs:' because the model has {len(inputs)} inputs ({', '.join(inputs)})")
            else:
                for sub, ref in refs:
                    self._check_ref(ref, epath + sub, defined, later, i)
                    if split_ref(ref)[0] in inputs:
                        used_inputs.add(split_ref(ref)[0])
            if entry.use is not None:
                upath = epath + ("use",)
                target = entry.use
                if target in inputs:
                    self.add(upath, f"'use:' takes an earlier entry, and {target!r} is a model input")
                elif target not in defined:
                    self._missing_ref(target, upath, later, i, [n for n in defined if n not in inputs])
            elif entry.type is not None:
                tpath = epath + ("type",)
                if entry.type in self.spec.models:
                    extra = set(entry.args) - {"trainable"}
                    if extra:
                        self.add(epath + (sorted(extra)[0],), f"a sub-model entry takes no arguments, got {', '.join(sorted(extra))}", key=True)
                else:
                    self.check_args(entry.type, entry.args, epath, "layer", type_path=tpath)
            if entry.name:
                if entry.name in defined:
                    first = defined[entry.name]
                    where = "a model input" if first is None else f"entry {first}"
                    self.add(epath + ("name",), f"duplicate name {entry.name!r}, already used by {where}",
                             hint="names are unique within a model, inputs included")
                else:
                    defined[entry.name] = i
        for name in inputs:
            if name not in used_inputs:
                self.add(path + ("inputs", name), f"model input {name!r} is not used by any entry",
                         hint=f"add 'inputs: {name}' to the entry that should read it", key=True)
        if model.outputs is not None:
            outs = [model.outputs] if isinstance(model.outputs, str) else model.outputs
            for j, ref in enumerate(outs):
                opath = path + ("outputs",) + ((j,) if isinstance(model.outputs, list) else ())
                base, _ = self._split(ref, defined)
                if base not in defined or defined[base] is None and base not in inputs:
                    self.add(opath, f"output {ref!r} names no entry", hint=did_you_mean(base, list(later)))
                else:
                    self._check_pick(ref, opath, defined)

    def _split(self, ref: str, defined: dict[str, int | None]) -> tuple[str, int | str | None]:
        """``enc.1`` -> ("enc", 1); ``enc.z_mean`` -> ("enc", "z_mean") when ``enc`` is a sub-model entry."""
        base, index = split_ref(ref)
        if base not in defined and "." in ref:
            head, pick = ref.rsplit(".", 1)
            if head in self._sub_outputs:
                return head, pick
        return base, index

    def _check_pick(self, ref: str, path: Path_, defined: dict[str, int | None]) -> None:
        """One output of a sub-model entry, by number or by name, that the sub-model has."""
        base, pick = self._split(ref, defined)
        outs = self._sub_outputs.get(base)
        if outs is None or pick is None:
            return
        listing = ", ".join(f"{i}: {n}" for i, n in enumerate(outs))
        if isinstance(pick, int) and pick >= len(outs):
            self.add(path, f"{ref!r}: the sub-model entry {base!r} has {len(outs)} outputs, numbered from 0",
                     hint=f"its outputs: {listing}")
        elif isinstance(pick, str) and pick not in outs:
            self.add(path, f"{ref!r}: the sub-model entry {base!r} has no output {pick!r}",
                     hint=did_you_mean(pick, outs) or f"its outputs: {listing}")

    def _check_ref(self, ref: str, path: Path_, defined: dict[str, int | None], later: dict[str, int], index: int) -> None:
        base, _ = self._split(ref, defined)
        if base in defined:
            self._check_pick(ref, path, defined)
            return
        self._missing_ref(ref, path, later, index, list(defined))

    def _missing_ref(self, ref: str, path: Path_, later: dict[str, int], index: int, known: list[str]) -> None:
        base, _ = split_ref(ref)
        if base in later and later[base] >= index:
            target_line = self.doc.locate(path[: path.index("layers") + 1] + (later[base],)).line
            self.add(path, f"{ref!r} is defined later (line {target_line}); an entry can only take earlier entries",
                     hint="move this entry below the one it reads, or fix the name")
            return
        self.add(path, f"{ref!r} names no model input or earlier entry", hint=did_you_mean(base, known))

    def check_submodel_cycles(self) -> None:
        models = self.spec.models
        edges: dict[str, list[tuple[str, Path_]]] = {
            name: [(e.type, ("models", name, "layers", i, "type")) for i, e in enumerate(m.layers) if e.type in models]
            + [(ref, ("models", name, "layers", i, *sub)) for i, e in enumerate(m.layers) for sub, ref in model_arg_refs(e.args, models)]
            for name, m in models.items()
        }
        reported: set[frozenset[str]] = set()
        for start in models:
            stack: list[tuple[str, list[str]]] = [(start, [start])]
            while stack:
                node, trail = stack.pop()
                for target, where in edges.get(node, []):
                    if target == start:
                        cycle = trail + [start]
                        key = frozenset(cycle)
                        if key not in reported:
                            reported.add(key)
                            self.add(where,
                                     f"sub-model {start!r} uses itself: {' -> '.join(cycle)}",
                                     hint="a model cannot contain itself; break the cycle")
                    elif target not in trail:
                        stack.append((target, trail + [target]))

    # -- compile, train, data, sweep ---------------------------------------------------------

    def check_per_output(self, value: Any, path: Path_, kind: str, outputs: list[str], *, lists: bool) -> None:
        if isinstance(value, dict) and "type" not in value:
            for key, sub in value.items():
                if key not in outputs:
                    self._no_output(key, path + (key,), outputs)
                    continue
                self.check_many(sub, path + (key,), kind) if lists else self.check_object(sub, path + (key,), kind)
        elif lists:
            self.check_many(value, path, kind)
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                self.check_object(sub, path + (i,), kind)
        else:
            self.check_object(value, path, kind)

    def check_many(self, value: Any, path: Path_, kind: str) -> None:
        if isinstance(value, list):
            for i, sub in enumerate(value):
                self.check_object(sub, path + (i,), kind)
        else:
            self.check_object(value, path, kind)

    def _no_output(self, key: Any, path: Path_, outputs: list[str]) -> None:
        shown = ", ".join(outputs) if outputs else "none named (name the last entry, or set 'outputs:')"
        self.add(path, f"{key!r} names no model output", hint=did_you_mean(str(key), outputs) or f"outputs: {shown}", key=True)

    def check_compile(self, outputs: list[str]) -> None:
        c = self.spec.compile
        self.check_object(c.optimizer, ("compile", "optimizer"), "optimizer")
        if c.loss is not None:
            self.check_per_output(c.loss, ("compile", "loss"), "loss", outputs, lists=False)
        if c.metrics is not None:
            self.check_per_output(c.metrics, ("compile", "metrics"), "metric", outputs, lists=True)
        if isinstance(c.loss_weights, dict):
            for key in c.loss_weights:
                if key not in outputs:
                    self._no_output(key, ("compile", "loss_weights", key), outputs)
        for i, cb in enumerate(self.spec.train.callbacks):
            self.check_object(cb, ("train", "callbacks", i), "callback")
            self.check_callback_path(cb, ("train", "callbacks", i))

    def check_callback_path(self, cb: Any, path: Path_) -> None:
        """A callback's file or folder stays in the run folder, formatted or not (kerun.spec.callback_paths)."""
        if not isinstance(cb, dict) or not isinstance(cb.get("type"), str):
            return
        info = catalog.lookup("callback", cb["type"])
        name = info.name if info else cb["type"]
        arg = CALLBACK_PATHS.get(name, (None,))[0]
        if arg is not None and arg in cb:
            problem = path_problem(name, cb[arg])
            if problem:
                self.add(path + (arg,), problem, hint=PATH_HINT)

    def check_start(self) -> None:
        """``train.initial_weights`` is a .weights.h5 file; ``train.freeze`` names entries of the model."""
        train = self.spec.train
        if train.initial_weights is not None and not train.initial_weights.endswith(".weights.h5"):
            self.add(("train", "initial_weights"), f"expected a .weights.h5 file, got {train.initial_weights!r}",
                     hint="write one with kerun import --weights, or keras's model.save_weights('NAME.weights.h5')")
        names = [e.name for e in self.spec.model.layers if e.name]
        for i, name in enumerate(train.freeze):
            if name not in names:
                self.add(("train", "freeze", i), f"{name!r} names no entry of model.layers",
                         hint=did_you_mean(name, names) or "give the entry a 'name:' to freeze it")

    def check_data(self, outputs: list[str]) -> None:
        data = self.spec.data
        if data is None:
            return
        inputs = list(self.spec.model.inputs)
        for key in data.inputs:
            if key not in inputs:
                self.add(("data", "inputs", key), f"{key!r} names no model input",
                         hint=did_you_mean(key, inputs) or f"model inputs: {', '.join(inputs)}", key=True)
        raw_targets = self.doc.data.get("data", {}).get("targets") if isinstance(self.doc.data.get("data"), dict) else None
        if "*" in data.targets and isinstance(raw_targets, dict) and set(raw_targets) <= FIELD_SPEC_KEYS:
            if len(outputs) > 1:
                self.add(("data", "targets"), f"this field description is for a single output, but the model has {len(outputs)}",
                         hint=f"map each output to its field: targets: {{{outputs[0]}: ...}}")
            return
        for key in data.targets:
            if key not in outputs:
                self._no_output(key, ("data", "targets", key), outputs)

    def check_sweep(self) -> None:
        sweep = self.spec.sweep
        if sweep is None:
            return
        for dotted in sweep.space:
            try:
                resolve_path(copy.deepcopy(self.doc.data), dotted)
            except KeyError as exc:
                self.add(("sweep", "space", dotted), f"{dotted!r} is not a path in this spec: {exc.args[0]}", key=True)


def check_spec(spec: KerunSpec, doc: Document, spec_dir: Path, *, skip: set[str] = frozenset()) -> list[Problem]:
    """Every problem of names, arguments and graph; sections in ``skip`` failed their shape check
    already and are left alone."""
    checker = Checker(spec, doc, spec_dir)
    if "plugins" not in skip:
        checker.plugins, plugin_problems = scan_plugins(spec.plugins, doc, spec_dir)
        checker.problems.extend(plugin_problems)
        checker.plugins_broken = bool(plugin_problems)
    checker.check_submodel_cycles()
    for name, sub in spec.models.items():
        checker.check_model(sub, ("models", name))
    checker.check_model(spec.model, ("model",))
    outputs = spec.model.output_names()
    if "compile" not in skip and "train" not in skip:
        checker.check_compile(outputs)
        checker.check_start()
    if "data" not in skip:
        checker.check_data(outputs)
    if "sweep" not in skip:
        checker.check_sweep()
    from kerun.spec.feasibility import check_feasible  # what training would refuse before its first step

    checker.problems.extend(check_feasible(spec, doc, spec_dir, skip=skip, trains_itself=_trains_itself(checker)))
    return checker.problems


def _trains_itself(checker: Checker) -> bool:
    """The model is one plugin Model that trains itself (kerun.model.model fits it as itself)."""
    layers = checker.spec.model.layers
    if len(layers) != 1 or checker.spec.model.outputs is not None or layers[0].type is None:
        return False
    return any(c.trains_itself for c in checker.plugins.get(layers[0].type, []))
