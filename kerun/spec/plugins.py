"""What the plugins of a spec register, read from their source without running it.

``kerun validate`` must not import TensorFlow, and must not run a pull request's code either, so
plugin files are parsed with :mod:`ast`: every class decorated with
``keras.saving.register_keras_serializable`` is recorded with its kind (from its base class), its
registered ``package>Name`` and the arguments of its ``__init__``; every module-level function so
decorated is recorded with the kind ``function``: a spec names it where Keras takes a callable
(``activation``, ``loss``, a metric, ``TextVectorization``'s ``standardize`` and ``split``). The
build step imports the plugins for real and checks the same names again.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from kerun.errors import Problem
from kerun.safeio import NotReadable, read_bounded, why_not_regular
from kerun.spec.loader import Document

__all__ = ["FUNCTION_KINDS", "FUNCTION_OPTIONS", "PluginClass", "plugin_path", "scan_plugins"]

#: Kinds of Keras object that may be a plain function: Keras calls it (``activation(x)``,
#: ``loss(y_true, y_pred)``, ``metric(y_true, y_pred)``).
FUNCTION_KINDS = ("activation", "loss", "metric")

#: Arguments that take either one of Keras's named options or a function, and those options.
FUNCTION_OPTIONS: dict[str, tuple[str, ...]] = {
    "standardize": ("lower_and_strip_punctuation", "lower", "strip_punctuation"),
    "split": ("whitespace", "character"),
}

_BASE_KINDS = {
    "Layer": "layer",
    "Model": "layer",
    "Sequential": "layer",
    "Functional": "layer",
    "Loss": "loss",
    "LossFunctionWrapper": "loss",
    "Metric": "metric",
    "MeanMetricWrapper": "metric",
    "Mean": "metric",
    "Callback": "callback",
    "Optimizer": "optimizer",
    "Initializer": "initializer",
    "Regularizer": "regularizer",
    "Constraint": "constraint",
    "LearningRateSchedule": "schedule",
}


TRAINING_METHODS = ("train_step", "compute_loss")
"""The methods a plugin Model overrides to train itself (kerun then fits it as itself)."""


@dataclass(frozen=True)
class PluginClass:
    name: str
    package: str
    kind: str | None
    args: frozenset[str]
    var_kwargs: bool
    base: str | None
    file: str
    line: int
    required: frozenset[str] = frozenset()  # __init__ arguments without a default
    trains_itself: bool = False  # a Model whose class (or a local base) defines train_step or compute_loss

    @property
    def registered_name(self) -> str:
        return f"{self.package}>{self.name}"


def plugin_path(entry: str, spec_dir: Path) -> Path | None:
    """The file a ``plugins:`` entry names: a ``.py`` path relative to the spec, or a module."""
    if entry.endswith(".py") or "/" in entry or "\\" in entry:
        return (spec_dir / entry).resolve()
    parts = entry.split(".")
    try:
        found = importlib.util.find_spec(parts[0]) if parts[0] not in sys.modules else sys.modules[parts[0]].__spec__
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    if len(parts) == 1:
        return Path(found.origin) if found.origin and found.origin.endswith(".py") else None
    locations = list(found.submodule_search_locations or [])
    for i, part in enumerate(parts[1:], start=1):
        last = i == len(parts) - 1
        nxt: list[str] = []
        for loc in locations:
            pkg = Path(loc) / part
            if last and (Path(loc) / f"{part}.py").is_file():
                return Path(loc) / f"{part}.py"
            if pkg.is_dir():
                if last and (pkg / "__init__.py").is_file():
                    return pkg / "__init__.py"
                nxt.append(str(pkg))
        locations = nxt
    return None


def _decorator_package(node: ast.ClassDef | ast.FunctionDef) -> tuple[bool, str, str | None]:
    for dec in node.decorator_list:
        call = dec if isinstance(dec, ast.Call) else None
        func = call.func if call else dec
        fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if fname != "register_keras_serializable":
            continue
        package, name = "Custom", None
        if call is not None:
            if call.args and isinstance(call.args[0], ast.Constant):
                package = str(call.args[0].value)
            for kw in call.keywords:
                if kw.arg == "package" and isinstance(kw.value, ast.Constant):
                    package = str(kw.value.value)
                if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                    name = str(kw.value.value)
        return True, package, name
    return False, "", None


def _base_name(node: ast.ClassDef) -> str | None:
    for base in node.bases:
        if isinstance(base, ast.Attribute):
            return base.attr
        if isinstance(base, ast.Name):
            return base.id
    return None


def _init_args(node: ast.ClassDef) -> tuple[frozenset[str], bool, bool]:
    """(argument names, accepts **kwargs, defines __init__)."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            a = item.args
            names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs][1:]
            return frozenset(names), a.kwarg is not None, True
    return frozenset(), True, False


def _required_init_args(node: ast.ClassDef) -> frozenset[str]:
    """The arguments of the class's own ``__init__`` that have no default (``self`` left out)."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            a = item.args
            positional = [x.arg for x in a.posonlyargs + a.args][1:]
            required = positional[: max(len(positional) - len(a.defaults), 0)]
            required += [x.arg for x, default in zip(a.kwonlyargs, a.kw_defaults) if default is None]
            return frozenset(required)
    return frozenset()


PLUGIN_MAX_BYTES = 16 * 1024 * 1024


def scan_plugins(entries: list[str], doc: Document, spec_dir: Path) -> tuple[dict[str, list[PluginClass]], list[Problem]]:
    """Registered classes by short name and by ``package>Name``, and the problems found."""
    found: dict[str, list[PluginClass]] = {}
    problems: list[Problem] = []
    for i, entry in enumerate(entries):
        try:
            path = plugin_path(entry, spec_dir)
            reason = why_not_regular(path) if path is not None else "no such file"
        except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL, a lone surrogate
            path, reason = None, f"the name cannot be a file or module ({exc.__class__.__name__})"
        if reason is not None and reason != "no such file":
            problems.append(doc.problem(("plugins", i), f"plugin {entry[:80]!r} cannot be read: {reason}"))
            continue
        if path is None or reason is not None:
            is_file = entry.endswith(".py") or "/" in entry
            what = f"no file {entry!r} beside the spec" if is_file else f"no importable module {entry!r}"
            hint = f"plugin files are relative to the spec file's folder, {spec_dir}" if is_file else "install the package, or give a .py file relative to the spec"
            problems.append(doc.problem(("plugins", i), f"plugin not found: {what}", hint=hint))
            continue
        try:
            tree = ast.parse(read_bounded(path, PLUGIN_MAX_BYTES).decode("utf-8"), filename=str(path))
        except NotReadable as exc:
            problems.append(doc.problem(("plugins", i), f"plugin {entry!r} cannot be read: {exc.reason}"))
            continue
        except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
            problems.append(doc.problem(("plugins", i), f"plugin {entry!r} cannot be read: {exc}"))
            continue
        except (RecursionError, MemoryError):  # nested deeper than Python's own parser goes
            problems.append(doc.problem(("plugins", i), f"plugin {entry!r} cannot be read: it is nested too deeply for Python to parse"))
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                registered, package, reg_name = _decorator_package(node)
                if registered:
                    a = node.args
                    fn = PluginClass(name=reg_name or node.name, package=package, kind="function",
                                     args=frozenset(x.arg for x in a.posonlyargs + a.args + a.kwonlyargs),
                                     var_kwargs=a.kwarg is not None, base=None, file=str(path), line=node.lineno)
                    found.setdefault(fn.name, []).append(fn)
                    found.setdefault(fn.registered_name, []).append(fn)
        local: dict[str, str | None] = {}
        training: set[str] = set()  # local classes that define train_step or compute_loss
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            registered, package, reg_name = _decorator_package(node)
            base = _base_name(node)
            kind = _BASE_KINDS.get(base or "") or local.get(base or "")
            local[node.name] = kind
            if base in training or any(isinstance(b, ast.FunctionDef) and b.name in TRAINING_METHODS for b in node.body):
                training.add(node.name)
            if not registered:
                continue
            args, var_kwargs, own_init = _init_args(node)
            cls = PluginClass(
                name=reg_name or node.name,
                package=package,
                kind=kind,
                args=args,
                var_kwargs=var_kwargs,
                base=base,
                file=str(path),
                line=node.lineno,
                required=_required_init_args(node),
                trains_itself=node.name in training,
            )
            found.setdefault(cls.name, []).append(cls)
            found.setdefault(cls.registered_name, []).append(cls)
    return found, problems
