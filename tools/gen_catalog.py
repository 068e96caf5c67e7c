#!/usr/bin/env python3
"""Generate ``kerun/spec/catalog.json`` from the installed Keras.

kerun validates spec files without importing TensorFlow, so it relies on a committed
catalogue of the Keras objects a spec may name: for each *kind* (layer, optimizer, loss, ...)
the public classes with their constructor arguments, the aliases Keras exports for them, and the
string identifiers Keras's own ``keras.<kind>.get()`` accepts.

Everything is derived from the installed Keras (namespaces, ``__init__`` signatures, the source
of ``__init__`` bodies for ``**kwargs`` handling, and trial calls to ``get()``); the only
hand-kept data are the small, commented exclusion/marking tables below.

Usage::

    python tools/gen_catalog.py            # (re)write kerun/spec/catalog.json
    python tools/gen_catalog.py --check    # exit 1 if the committed file is stale

``tests/spec/test_catalog.py`` imports :func:`build_catalog` and :func:`render` and fails when the
committed JSON differs from what the installed Keras produces, so a Keras upgrade shows up there.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import math
import os
import re
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "kerun" / "spec" / "catalog.json"

# kind -> (public namespace, dotted path of the kind's base class)
KIND_SPECS: dict[str, tuple[str, str]] = {
    "layer": ("keras.layers", "keras.layers.Layer"),
    "optimizer": ("keras.optimizers", "keras.optimizers.Optimizer"),
    "loss": ("keras.losses", "keras.losses.Loss"),
    "metric": ("keras.metrics", "keras.metrics.Metric"),
    "callback": ("keras.callbacks", "keras.callbacks.Callback"),
    "initializer": ("keras.initializers", "keras.initializers.Initializer"),
    "regularizer": ("keras.regularizers", "keras.regularizers.Regularizer"),
    "constraint": ("keras.constraints", "keras.constraints.Constraint"),
    "schedule": ("keras.optimizers.schedules", "keras.optimizers.schedules.LearningRateSchedule"),
    "activation": ("keras.activations", ""),  # functions only, no classes
}
KINDS: tuple[str, ...] = tuple(KIND_SPECS)

# Kinds whose ``keras.<kind>.get`` resolves strings; the rest have no string identifiers
# (a layer may be written as its bare class name, which is a class lookup, not an identifier).
KINDS_WITH_GET = ("optimizer", "loss", "metric", "initializer", "regularizer", "constraint", "activation")

# Hand-kept: classes that carry arbitrary code (Python callables or a SavedModel graph).
# They are catalogued, marked ``unsafe: true``, so kerun can refuse them with a specific message.
UNSAFE: dict[str, frozenset[str]] = {
    "layer": frozenset(
        {
            "Lambda",  # wraps a Python function
            "TFSMLayer",  # loads and runs an external SavedModel
            "JaxLayer",  # wraps a JAX call_fn
            "FlaxLayer",  # wraps a Flax module
            "TorchModuleWrapper",  # wraps a torch.nn.Module
        }
    ),
    "callback": frozenset({"LambdaCallback"}),  # arbitrary Python callables on every hook
}

# Hand-kept: subclasses of a kind's base that are Keras plumbing, not something a spec names.
EXCLUDE: dict[str, frozenset[str]] = {
    "callback": frozenset({"CallbackList"}),  # the container fit() builds around user callbacks
}


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def _resolve(dotted: str) -> Any:
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _to_snake_case(name: str) -> str:
    """Keras's own snake-casing (keras.src.utils.naming.to_snake_case), re-done for candidates."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


class _SourceDefault(str):
    """A default computed in the ``__init__`` body (e.g. ``vocabulary is not None``)."""

    def __repr__(self) -> str:
        return str(self)


def _json_default(value: Any) -> tuple[bool, Any]:
    """Return (representable, json_value) for a default value."""
    if isinstance(value, _SourceDefault):
        return False, None
    if value is None or isinstance(value, (bool, str)):
        return True, value
    if isinstance(value, int):
        return True, int(value)
    if isinstance(value, float):
        return (True, value) if math.isfinite(value) else (False, None)
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            ok, conv = _json_default(item)
            if not ok:
                return False, None
            out.append(conv)
        return True, out
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        out_d = {}
        for k, item in value.items():
            ok, conv = _json_default(item)
            if not ok:
                return False, None
            out_d[k] = conv
        return True, out_d
    return False, None


def _coarse_type(value: Any, has_default: bool) -> str:
    if not has_default:
        return "other"  # required argument: nothing to infer from
    if value is None:
        return "null"
    if isinstance(value, _SourceDefault):
        return "other"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    return "other"


def _arg_entry(default: Any, has_default: bool, *, via_kwargs: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"required": not has_default, "type": _coarse_type(default, has_default)}
    if has_default:
        ok, conv = _json_default(default)
        if ok:
            entry["default"] = conv
        else:
            entry["default"] = None
            entry["default_repr"] = _ADDR.sub("", repr(default))
    else:
        entry["default"] = None
    if via_kwargs:
        entry["via_kwargs"] = True  # popped from **kwargs in the body, not a named parameter
    return entry


# --------------------------------------------------------------------------------------------
# **kwargs analysis of __init__ bodies
# --------------------------------------------------------------------------------------------
class _KwargsUse:
    """What a function body does with its ``**kwargs`` parameter."""

    def __init__(self) -> None:
        self.popped: dict[str, tuple[bool, Any]] = {}  # name -> (has literal default, default)
        self.forward_calls: list[ast.Call] = []  # calls to some ``__init__`` with **kwargs
        self.other_forward = False  # **kwargs passed to a non-__init__ call
        self.checked = False  # ``if kwargs: raise`` or handed to a validating helper
        self.helpers: list[str] = []  # self.<method>(kwargs) helpers


def _function_ast(func: Callable[..., Any]) -> ast.FunctionDef | None:
    try:
        src = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node  # type: ignore[return-value]
    return None


def _analyse_kwargs(fn: ast.FunctionDef, kw: str, use: _KwargsUse) -> None:
    def is_kw(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == kw

    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and is_kw(f.value) and f.attr in ("pop", "get", "setdefault"):
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    name = node.args[0].value
                    if len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                        use.popped.setdefault(name, (True, node.args[1].value))
                    elif len(node.args) > 1:  # computed default: keep its source text
                        use.popped.setdefault(name, (True, _SourceDefault(ast.unparse(node.args[1]))))
                    else:
                        use.popped.setdefault(name, (True, None))
            if any(k.arg is None and is_kw(k.value) for k in node.keywords):
                if isinstance(f, ast.Attribute) and f.attr == "__init__":
                    use.forward_calls.append(node)
                else:
                    use.other_forward = True
            if any(is_kw(a) for a in node.args):
                # ``self._validate(kwargs)`` may check; ``self.__dict__.update(kwargs)`` stores.
                if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self":
                    use.helpers.append(f.attr)
        elif isinstance(node, ast.Compare):
            if (
                isinstance(node.left, ast.Constant)
                and isinstance(node.left.value, str)
                and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)
                and any(is_kw(c) for c in node.comparators)
            ):
                use.popped.setdefault(node.left.value, (True, None))
        elif isinstance(node, ast.Subscript) and is_kw(node.value):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                use.popped.setdefault(node.slice.value, (True, None))
        elif isinstance(node, (ast.If, ast.While, ast.Assert)):
            test = node.test
            if is_kw(test) or (isinstance(test, ast.Call) and any(is_kw(a) for a in test.args)):
                use.checked = True


def _kwargs_use(cls: type, init: Callable[..., Any], kw: str) -> _KwargsUse | None:
    fn = _function_ast(init)
    if fn is None:
        return None
    use = _KwargsUse()
    _analyse_kwargs(fn, kw, use)
    for helper in use.helpers:  # e.g. TensorBoard._validate_kwargs(kwargs)
        meth = getattr(cls, helper, None)
        hfn = _function_ast(meth) if meth is not None else None
        if hfn is None:
            continue
        params = [a.arg for a in hfn.args.args if a.arg != "self"]
        if params:
            _analyse_kwargs(hfn, params[0], use)
            if any(isinstance(n, ast.Raise) for n in ast.walk(hfn)):
                use.checked = True
    return use


def _forward_target(call: ast.Call, cls_in_mro: type, mro: tuple[type, ...], init: Any) -> type | None:
    """The class whose ``__init__`` a forwarding call reaches."""
    value = call.func.value  # type: ignore[attr-defined]
    idx = mro.index(cls_in_mro)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
        for klass in mro[idx + 1 :]:
            if "__init__" in klass.__dict__:
                return klass
        return None
    try:
        target = eval(ast.unparse(value), init.__globals__)  # names resolved in the defining module
    except Exception:
        return None
    if isinstance(target, type):
        for klass in target.__mro__:
            if "__init__" in klass.__dict__:
                return klass
    return None


# --------------------------------------------------------------------------------------------
# constructor arguments
# --------------------------------------------------------------------------------------------
def class_args(cls: type) -> tuple[dict[str, dict[str, Any]], bool, list[str]]:
    """Walk the MRO's ``__init__`` signatures; return (args, var_kwargs, notes)."""
    mro = cls.__mro__
    args: dict[str, dict[str, Any]] = {}
    consumed: set[str] = set()  # names a subclass passes itself to its parent
    notes: list[str] = []
    current: type | None = next((k for k in mro if "__init__" in k.__dict__), None)
    var_kwargs = False
    seen: set[type] = set()
    while current is not None and current is not object and current not in seen:
        seen.add(current)
        init = current.__dict__["__init__"]
        sig = inspect.signature(init)
        params = list(sig.parameters.values())[1:]  # drop self
        kw_name = None
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                kw_name = p.name
                continue
            if p.kind is p.VAR_POSITIONAL:
                continue
            if p.kind is p.POSITIONAL_ONLY:
                notes.append(f"{current.__name__}: positional-only {p.name} skipped")
                continue
            if p.name in args or p.name in consumed:
                continue
            has_default = p.default is not p.empty
            args[p.name] = _arg_entry(p.default if has_default else None, has_default)
        if kw_name is None:
            break
        use = _kwargs_use(current, init, kw_name)
        if use is None:
            notes.append(f"{current.__name__}: no source for **{kw_name}; assumed unchecked")
            var_kwargs = True
            break
        for name, (has_default, default) in sorted(use.popped.items()):
            if name not in args and name not in consumed:
                args[name] = _arg_entry(default, has_default, via_kwargs=True)
        if use.forward_calls:
            call = use.forward_calls[0]
            target = _forward_target(call, current, mro, init)
            if target is None:
                notes.append(f"{current.__name__}: cannot resolve forward target; assumed unchecked")
                var_kwargs = True
                break
            # what this __init__ passes explicitly to its parent cannot also come from the user
            passed = set.intersection(
                *({k.arg for k in c.keywords if k.arg is not None} for c in use.forward_calls)
            )
            n_pos = min(len(c.args) for c in use.forward_calls)
            if not (isinstance(call.func.value, ast.Call)):  # Parent.__init__(self, ...)
                n_pos = max(0, n_pos - 1)
            tparams = [
                p.name
                for p in list(inspect.signature(target.__dict__["__init__"]).parameters.values())[1:]
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            passed |= set(tparams[:n_pos])
            consumed |= {n for n in passed if n not in args}
            current = target
            continue
        if use.other_forward and not use.checked:
            notes.append(f"{current.__name__}: **{kw_name} forwarded to a non-__init__ call")
            var_kwargs = True
        elif not use.checked:
            var_kwargs = True  # stored or ignored, never validated
        break
    return args, var_kwargs, notes


# --------------------------------------------------------------------------------------------
# descriptions from Keras's docstrings (hover text in editors; ``kerun schema``)
# --------------------------------------------------------------------------------------------
DOC_LIMIT = 240  # characters: a hover, not the manual
_ARGS_HEADER = re.compile(r"^(\s*)(Args|Arguments|Keyword Args|Keyword Arguments)\s*:\s*$")
_ARG_LINE = re.compile(r"^(\*{0,2}[A-Za-z_][A-Za-z0-9_]*)(\s*\([^)]*\))?\s*:\s*(.*)$")


def _clip(text: str) -> str:
    """Whitespace collapsed; at most two sentences and :data:`DOC_LIMIT` characters."""
    text = " ".join(text.split())
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z`(])", text)
    text = " ".join(sentences[:2])
    if len(text) > DOC_LIMIT:
        text = text[: DOC_LIMIT - 3].rsplit(" ", 1)[0] + "..."
    return text


def class_doc(cls: type) -> str:
    """The first paragraph of the class's own docstring (empty when it has none)."""
    doc = cls.__dict__.get("__doc__") or ""
    paragraph = textwrap.dedent(doc).strip().split("\n\n")[0]
    return _clip(paragraph) if paragraph and not paragraph.lstrip().startswith(("Args", ">>>", "```")) else ""


def docstring_args(doc: str) -> dict[str, str]:
    """``name -> description`` from the ``Args:`` sections of a Google-style docstring."""
    out: dict[str, str] = {}
    lines = (doc or "").expandtabs().splitlines()
    i = 0
    while i < len(lines):
        header = _ARGS_HEADER.match(lines[i])
        i += 1
        if not header:
            continue
        base = len(header.group(1))
        indent: int | None = None
        current: str | None = None
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue
            width = len(line) - len(line.lstrip())
            if width <= base:
                break  # the section ended
            if indent is None:
                indent = width
            m = _ARG_LINE.match(line.strip()) if width == indent else None
            if m:
                current = m.group(1).lstrip("*")
                out.setdefault(current, "")
                if not out[current]:
                    out[current] = m.group(3)
            elif current is not None and width > indent and out.get(current) is not None:
                out[current] += " " + line.strip()
            i += 1
    return {k: _clip(v) for k, v in out.items() if v.strip()}


# Hand-kept: arguments that ``Layer.__init__`` pops from ``**kwargs`` and no docstring describes.
UNDOCUMENTED_LAYER_ARGS: dict[str, str] = {
    "input_shape": "Shape of one example, batch dimension left out; only meaningful on a model's first layer.",
    "input_dim": "Size of the last input dimension (short for input_shape=(input_dim,)).",
    "batch_input_shape": "Input shape with the batch dimension first (legacy spelling of batch_shape).",
    "input_length": "Length of input sequences (legacy; kept for old configs).",
    "batch_size": "Fixed batch size of the input (legacy, with input_shape).",
    "autocast": "Boolean, whether to cast float inputs to the layer's compute dtype. Defaults to `True`.",
    "activity_regularizer": "Regularizer function applied to the output of the layer.",
}


def args_docs(cls: type) -> dict[str, str]:
    """Descriptions of constructor arguments: the class's docstring first, then its bases'."""
    out: dict[str, str] = {}
    layer_base = _resolve("keras.layers.Layer")
    if issubclass(cls, layer_base):
        out.update(UNDOCUMENTED_LAYER_ARGS)
        for name, text in docstring_args(cls.__dict__.get("__doc__") or "").items():
            out[name] = text  # the class's own words win over the generic ones
    for klass in cls.__mro__:
        for name, text in docstring_args(klass.__dict__.get("__doc__") or "").items():
            out.setdefault(name, text)
        init = klass.__dict__.get("__init__")
        for name, text in docstring_args(getattr(init, "__doc__", None) or "").items():
            out.setdefault(name, text)
    return out


# --------------------------------------------------------------------------------------------
# classes, aliases and identifiers per kind
# --------------------------------------------------------------------------------------------
def _public_names(module: Any) -> list[str]:
    return sorted(n for n in dir(module) if not n.startswith("_"))


def collect_classes(kind: str) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    ns_name, base_path = KIND_SPECS[kind]
    if not base_path:
        return {}, {}, []
    ns = importlib.import_module(ns_name)
    base = _resolve(base_path)
    by_class: dict[type, list[str]] = {}
    for name in _public_names(ns):
        obj = getattr(ns, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, base)
            and obj is not base  # the bare abstract base itself
            and obj.__name__ not in EXCLUDE.get(kind, ())
        ):
            by_class.setdefault(obj, []).append(name)
    classes: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    notes: list[str] = []
    for cls, names in sorted(by_class.items(), key=lambda kv: kv[0].__name__):
        canonical = cls.__name__
        if canonical not in names:  # exported only under other names; keep the first public one
            canonical = names[0]
        args, var_kwargs, cnotes = class_args(cls)
        notes += [f"{kind}/{canonical}: {n}" for n in cnotes]
        entry: dict[str, Any] = {"module": ns_name, "args": args, "var_kwargs": var_kwargs}
        doc = class_doc(cls)
        if doc:
            entry["doc"] = doc
        docs = args_docs(cls)
        for arg, arg_entry in args.items():
            if docs.get(arg):
                arg_entry["doc"] = docs[arg]
        if canonical in UNSAFE.get(kind, ()):
            entry["unsafe"] = True
        if canonical in classes:
            raise RuntimeError(f"duplicate canonical {kind} {canonical}")
        classes[canonical] = entry
        for alias in names:
            if alias != canonical:
                aliases[alias] = canonical
    for name in UNSAFE.get(kind, ()):
        if name not in classes:
            notes.append(f"{kind}: UNSAFE entry {name} not found in Keras")
    return classes, aliases, notes


def _get_function(kind: str) -> Callable[[str], Any]:
    return importlib.import_module(KIND_SPECS[kind][0]).get


def _accepts(get: Callable[[str], Any], name: str, base: type | None) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = get(name)
    except Exception:
        return False
    if obj is None:
        return False
    if base is not None and type(obj) is base:  # the bare abstract base: useless in a spec
        return False
    return True


def _compile_specials() -> dict[str, list[str]]:
    """Case-insensitive strings ``model.compile`` resolves itself (keras/src/trainers/compile_utils.py).

    ``get_metric`` tests ``str(identifier).lower() not in [...]`` for accuracy/acc and ``get_loss``
    does the same for crossentropy/ce; we extract those literal lists from the source.
    """
    from keras.src.trainers import compile_utils

    out: dict[str, list[str]] = {}
    for func_name, kind in (("get_metric", "metric"), ("get_loss", "loss")):
        fn = _function_ast(getattr(compile_utils, func_name))
        found: list[str] = []
        if fn is not None:
            for node in ast.walk(fn):
                if isinstance(node, ast.Compare) and any(isinstance(o, (ast.In, ast.NotIn)) for o in node.ops):
                    left = ast.unparse(node.left)
                    if ".lower()" not in left:
                        continue
                    for comp in node.comparators:
                        if isinstance(comp, (ast.List, ast.Tuple, ast.Set)):
                            found += [e.value for e in comp.elts if isinstance(e, ast.Constant)]
        if not found:
            raise RuntimeError(f"could not find compile-time specials in compile_utils.{func_name}")
        out[kind] = sorted(set(found))
    return out


def collect_identifiers(kind: str, classes: dict[str, Any], aliases: dict[str, str]) -> tuple[list[str], bool]:
    """Strings ``keras.<kind>.get`` accepts; and whether Keras matches them case-insensitively."""
    if kind not in KINDS_WITH_GET:
        return [], False
    ns_name, base_path = KIND_SPECS[kind]
    ns = importlib.import_module(ns_name)
    base = _resolve(base_path) if base_path else None
    get = _get_function(kind)
    candidates: set[str] = set()
    for name in _public_names(ns):
        obj = getattr(ns, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            candidates |= {name, _to_snake_case(name), name.lower()}
    candidates |= set(classes) | set(aliases)
    candidates |= {_to_snake_case(n) for n in list(classes) + list(aliases)}
    try:  # the table get() itself consults (private API; generator-only)
        src = importlib.import_module(ns_name.replace("keras.", "keras.src.", 1))
        candidates |= {k for k in getattr(src, "ALL_OBJECTS_DICT", {}) if isinstance(k, str)}
    except ImportError:
        pass
    accepted = sorted(c for c in candidates if _accepts(get, c, base))
    if not accepted:
        return [], False
    # Case-insensitive iff every accepted string also resolves upper-cased and lower-cased.
    insensitive = all(_accepts(get, a.upper(), base) and _accepts(get, a.lower(), base) for a in accepted)
    if insensitive:
        accepted = sorted({a.lower() for a in accepted})
    return accepted, insensitive


def build_catalog() -> dict[str, Any]:
    """Import Keras and build the catalogue dict (deterministic)."""
    import keras
    import tensorflow as tf

    specials = _compile_specials()
    catalog: dict[str, Any] = {
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "keras_backend": keras.backend.backend(),
        "kinds": {},
        "case_insensitive": [],
    }
    for kind in KINDS:
        classes, aliases, _notes = collect_classes(kind)
        idents, insensitive = collect_identifiers(kind, classes, aliases)
        entry: dict[str, Any] = {"classes": classes, "aliases": aliases, "identifiers": idents}
        if kind in specials:
            # resolved by model.compile() itself, compared after str.lower()
            entry["compile_identifiers"] = specials[kind]
        catalog["kinds"][kind] = entry
        if insensitive:
            catalog["case_insensitive"].append(kind)
    return catalog


def build_notes() -> list[str]:
    """Diagnostics about **kwargs handling (for humans reviewing a Keras upgrade)."""
    notes: list[str] = []
    for kind in KINDS:
        notes += collect_classes(kind)[2]
    return notes


def render(catalog: dict[str, Any]) -> str:
    """Serialize deterministically (sorted keys, indent=1, trailing newline)."""
    return json.dumps(catalog, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def output_for(keras_version: str) -> Path:
    """Where the catalogue of a Keras version lives: ``catalog.json`` for the newest supported
    minor (``kerun.spec.catalogs.NEWEST``), ``catalogs/keras-<major>.<minor>.json`` for the others.
    Run the generator once under each supported Keras (see kerun/spec/catalogs/__init__.py)."""
    sys.path.insert(0, str(REPO))  # this checkout's kerun, not an installed copy
    from kerun.spec.catalogs import HERE, NEWEST

    minor = ".".join(keras_version.split(".")[:2])
    return OUTPUT if minor == NEWEST else HERE / f"keras-{minor}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if catalog.json is stale")
    parser.add_argument("--notes", action="store_true", help="print **kwargs diagnostics")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="default: the installed Keras's catalogue (see output_for)")
    ns = parser.parse_args(argv)
    catalog = build_catalog()
    ns.output = ns.output or output_for(catalog["keras_version"])
    text = render(catalog)
    if ns.notes:
        for note in build_notes():
            print(note, file=sys.stderr)
    if ns.check:
        current = ns.output.read_text(encoding="utf-8") if ns.output.exists() else ""
        if current != text:
            print(f"{ns.output} is stale; run: python tools/gen_catalog.py", file=sys.stderr)
            return 1
        print(f"{ns.output} is up to date")
        return 0
    ns.output.write_text(text, encoding="utf-8")
    print(f"wrote {ns.output} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
