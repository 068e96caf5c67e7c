"""Keras objects from the "string or ``type:`` mapping" rule, through Keras's own lookups.

A string goes to Keras's ``get`` for its kind (``keras.optimizers.get("adam")``); a mapping's ``type``
is resolved to the class Keras publishes under that name (aliases through the catalogue, plugin
classes through Keras's serialization registry), and its other keys, converted the same way where
they are Keras objects themselves, become the constructor's keyword arguments.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from typing import Any, Callable, Iterator, Mapping

import keras

from kerun.errors import BuildError, Location
from kerun.spec import catalog
from kerun.spec.refs import argument_kind
from kerun.spec.plugins import FUNCTION_KINDS, FUNCTION_OPTIONS

__all__ = ["SubModels", "at", "make_object", "resolve_class"]

SubModels = Mapping[str, Callable[[dict[str, Any]], Any]]
"""The sub-models of ``models:`` by name, each building a fresh instance from the options its
reference gives (``name``, ``trainable``): an argument ``{type: encoder}`` receives one."""

_GETTERS = {
    "optimizer": lambda: keras.optimizers.get,
    "loss": lambda: keras.losses.get,
    "metric": lambda: keras.metrics.get,
    "initializer": lambda: keras.initializers.get,
    "regularizer": lambda: keras.regularizers.get,
    "constraint": lambda: keras.constraints.get,
    "activation": lambda: keras.activations.get,
}

@contextlib.contextmanager
def at(location: Location | None, path: tuple[str | int, ...] = (), what: str = "") -> Iterator[None]:
    """Re-raise what Keras raises inside the block as a BuildError at this spec entry; what plugin
    code raised names the plugin's file, line and function (``cells.py:12 in NestedCell.build``)."""
    from kerun.model.plugins import origin_text

    try:
        yield
    except BuildError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, NotImplementedError, IndexError) as exc:
        text = str(exc).strip() or type(exc).__name__
        raise BuildError(f"{what}{': ' if what else ''}{origin_text(exc)}{_first_paragraph(text)}", location=location,
                         path=path, hint=_hint(text)) from None
    except Exception as exc:  # tensorflow's own errors (InvalidArgumentError ...) are not builtins
        origin = origin_text(exc)
        if origin or type(exc).__module__.startswith(("tensorflow", "keras", "jax")):
            text = str(exc).strip()
            text = f"{type(exc).__name__}: {text}" if origin and not type(exc).__module__.startswith(("tensorflow", "keras")) else text
            raise BuildError(f"{what}{': ' if what else ''}{origin}{_first_paragraph(text)}", location=location, path=path) from None
        raise


def _hint(text: str) -> str | None:
    """A likely fix for the errors people meet most while wiring layers together."""
    m = re.search(r"expected (?:min_)?ndim=(\d+), found ndim=(\d+)", text)
    if m:
        want, got = int(m.group(1)), int(m.group(2))
        if want > got:
            return "the input has fewer dimensions than this layer needs: a Reshape entry before it may be missing"
        return "the input has more dimensions than this layer takes: a Flatten or pooling entry before it may be missing"
    if "incompatible shapes" in text or "matching shapes" in text:
        return "the entries it merges must produce shapes Keras can combine; check their units, filters or padding"
    return None


def _first_paragraph(text: str, limit: int = 1200) -> str:
    """Keras's explanation without terminal colours or the "Arguments received" appendix."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    if text.startswith("Exception encountered when calling"):
        text = text.split("\n", 1)[1] if "\n" in text else text
    text = text.split("\nArguments received by", 1)[0]
    text = re.sub(r"\n\s*\n+", "\n", text.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_class(kind: str | None, name: str) -> tuple[str, type]:
    """The Keras (or registered plugin) class for ``name``, and the kind it was found under."""
    kinds = [kind] if kind else list(catalog.KINDS)
    for k in kinds:
        info = catalog.lookup(k, name)
        if info is not None:
            if info.unsafe:
                raise ValueError(f"{info.name} carries Python code and is refused")
            module = importlib.import_module(info.module)
            return k, getattr(module, info.name)
    from kerun.model.plugins import registered_class

    found = registered_class(name)
    if found is not None:
        return kind or "layer", found
    raise ValueError(f"unknown {kind or 'Keras'} class {name!r}")


def registered_function(name: str) -> Any:
    """The function a plugin registered under ``name`` (``package>name`` or its short name), or None."""
    from kerun.model.plugins import registered_class

    found = registered_class(name)
    return found if callable(found) and not isinstance(found, type) else None


def _function_arg(arg: str, value: str) -> Any:
    """A registered function for an argument that takes a callable, else the string for Keras."""
    kind = argument_kind(arg)
    if arg in FUNCTION_OPTIONS:
        if value in FUNCTION_OPTIONS[arg]:
            return value
    elif kind not in FUNCTION_KINDS or catalog.is_identifier(kind, value):
        return value
    found = registered_function(value)
    if found is None and arg in FUNCTION_OPTIONS:
        raise ValueError(f"{arg}: {value!r} is neither one of {', '.join(FUNCTION_OPTIONS[arg])} nor a function a plugin registered")
    return value if found is None else found


def _convert_arg(arg: str, value: Any, submodels: SubModels) -> Any:
    if isinstance(value, str):
        if value in submodels and argument_kind(arg) == "layer":  # layer: encoder (a Bidirectional's)
            return submodels[value]({})
        return _function_arg(arg, value)
    if isinstance(value, dict) and "type" in value:
        if value["type"] in submodels:  # encoder: {type: encoder}
            return submodels[value["type"]]({k: v for k, v in value.items() if k != "type"})
        return make_object(argument_kind(arg), value, submodels)
    if isinstance(value, list):
        return [_convert_arg(arg, v, submodels) for v in value]
    return value


def make_object(kind: str | None, value: Any, submodels: SubModels | None = None) -> Any:
    """A Keras object from its spec form; ``kind`` None searches every kind (nested mappings).
    ``submodels`` builds the sub-models that arguments refer to (the model builder's)."""
    submodels = submodels or {}
    if isinstance(value, str):
        if kind in ("metric", "loss"):
            # compile resolves these against the output ('accuracy' becomes categorical or sparse
            # accuracy to fit the loss), so they go to it as the strings Keras documents; a
            # function a plugin registered goes as the function.
            if not (catalog.is_identifier(kind, value) or catalog.lookup(kind, value)):
                found = registered_function(value)
                if found is not None:
                    return found
            return value
        if kind == "activation" and not catalog.is_identifier(kind, value):
            found = registered_function(value)
            if found is not None:
                return found
        if kind in _GETTERS:
            try:
                return _GETTERS[kind]()(value)
            except (ValueError, TypeError):
                pass
        _, cls = resolve_class(kind, value)
        return cls()
    if not isinstance(value, dict):
        return value
    found_kind, cls = resolve_class(kind, value["type"])
    kwargs = {k: _convert_arg(k, v, submodels) for k, v in value.items() if k != "type"}
    return cls(**kwargs)
