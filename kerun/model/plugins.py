"""Importing the plugins a spec lists, and finding the classes they registered with Keras."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

import keras

from kerun.errors import PluginError
from kerun.spec import LoadedSpec
from kerun.spec.plugins import plugin_path

__all__ = ["load_plugins", "registered_class"]

_loaded: dict[str, str] = {}


def _import_file(path: Path) -> None:
    key = str(path)
    if key in _loaded:
        return
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    module_name = f"kerun_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    _loaded[key] = module_name


def load_plugins(loaded: LoadedSpec) -> None:
    """Import every plugin of the spec, in order; a failure names the plugin and the spec line."""
    for i, entry in enumerate(loaded.spec.plugins):
        location = loaded.doc.locate(("plugins", i))
        try:
            if entry.endswith(".py") or "/" in entry:
                path = plugin_path(entry, loaded.base_dir)
                if path is None or not path.is_file():
                    raise PluginError(f"plugin file not found: {path}", location=location, path=("plugins", i))
                _import_file(path)
            else:
                importlib.import_module(entry)
        except PluginError:
            raise
        except Exception as exc:
            tb = traceback.extract_tb(exc.__traceback__)
            where = next((f"{f.filename}:{f.lineno}" for f in reversed(tb) if "importlib" not in f.filename), "")
            raise PluginError(
                f"plugin {entry!r} failed to import: {type(exc).__name__}: {exc}",
                location=location,
                path=("plugins", i),
                hint=f"raised at {where}" if where else None,
            ) from None


def registered_class(name: str) -> type | None:
    """A class registered with ``register_keras_serializable``: by ``package>Name``, or by its
    short name when exactly one registered class has it."""
    objects = keras.saving.get_custom_objects()
    if name in objects:
        return objects[name]
    matches = {k: v for k, v in objects.items() if k.split(">")[-1] == name}
    if len(matches) == 1:
        return next(iter(matches.values()))
    if len(matches) > 1:
        raise ValueError(f"{name!r} is registered by several plugins ({', '.join(sorted(matches))}); write the full 'package>Name'")
    return None
