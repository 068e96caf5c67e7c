"""Importing the plugins a spec lists, and finding the classes they registered with Keras."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path

import keras

from kerun.errors import PluginError
from kerun.spec import LoadedSpec
from kerun.spec.plugins import plugin_path

__all__ = ["load_plugins", "origin_text", "plugin_origin", "registered_class"]

_loaded: dict[str, str] = {}
#: The source files of every plugin imported (listed files and the files of listed modules).
_files: set[str] = set()


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
    _files.add(key)
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
                module = importlib.import_module(entry)
                if getattr(module, "__file__", None):
                    _files.add(str(module.__file__))
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


def plugin_origin(exc: BaseException) -> str | None:
    """Where plugin code raised ``exc``: ``plugins/cells.py:12 in NestedCell.build``, the innermost
    frame of its traceback inside a plugin file (the exception's cause or context when it was
    re-raised as another); None when no plugin code is on the way, as for a bug in kerun."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = None
        tb = current.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename in _files:
                found = (code.co_filename, tb.tb_lineno, getattr(code, "co_qualname", code.co_name))
            tb = tb.tb_next
        if found is not None:
            return f"{_shown(found[0])}:{found[1]} in {found[2]}"
        current = current.__cause__ or current.__context__
    return None


def _shown(file: str) -> str:
    """A plugin file relative to the working directory when it is below it, else in full."""
    try:
        rel = os.path.relpath(file)
    except ValueError:  # another drive
        return file
    return file if rel.startswith("..") else rel


def origin_text(exc: BaseException) -> str:
    """``plugins/cells.py:12 in NestedCell.build: `` for an error raised in plugin code, else ''."""
    origin = plugin_origin(exc)
    return f"{origin}: " if origin else ""


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
