"""The file paths a spec holds, and moving them: relative paths are relative to the spec's folder,
so a spec written elsewhere (a base's values merged into the spec that extends it, a run folder's
``spec.yaml``, a sweep's ``best.yaml``) needs them rewritten to keep pointing at the same files.

The paths are: every data source's ``path``, the plugin entries that are files (``*.py`` or with a
``/``; the others are module names), and ``train.initial_weights``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

__all__ = ["absolute_paths", "map_file_paths", "relative_paths"]


def _is_plugin_file(entry: str) -> bool:
    return entry.endswith(".py") or "/" in entry


def map_file_paths(data: dict[str, Any], fix: Callable[[str], str]) -> None:
    """Replace, in place, every file path of spec ``data`` by ``fix(path)``."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "path" and isinstance(v, str):
                    node[k] = fix(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data.get("data"))
    plugins = data.get("plugins")
    if isinstance(plugins, list):
        data["plugins"] = [fix(p) if isinstance(p, str) and _is_plugin_file(p) else p for p in plugins]
    train = data.get("train")
    if isinstance(train, dict) and isinstance(train.get("initial_weights"), str):
        train["initial_weights"] = fix(train["initial_weights"])


def absolute_paths(data: dict[str, Any], folder: Path) -> None:
    """Relative file paths made absolute against ``folder`` (the folder they were written in)."""

    def fix(value: str) -> str:
        p = Path(value).expanduser()
        return value if p.is_absolute() else os.path.abspath(folder / p)

    map_file_paths(data, fix)


def relative_paths(data: dict[str, Any], base: Path, folder: Path) -> None:
    """Relative file paths written for ``base`` rewritten for a spec that lives in ``folder``."""

    def fix(value: str) -> str:
        p = Path(value).expanduser()
        return value if p.is_absolute() else os.path.relpath(base / p, folder)

    map_file_paths(data, fix)
