"""Warnings from the static reading of the plugins: what validates, builds and trains, then fails
later (a saved model that does not load back). No TensorFlow, no user code: the AST only."""

from __future__ import annotations

from kerun.errors import Problem
from kerun.spec.plugins import scan_plugins

__all__ = ["plugin_warnings"]


def plugin_warnings(loaded: "LoadedSpec") -> list[Problem]:  # type: ignore[name-defined]  # noqa: F821
    """A plugin layer (or model) whose own ``__init__`` takes no ``**kwargs``: Keras passes
    ``name``, ``trainable`` and ``dtype`` to it when it loads a saved model (and kerun passes
    ``name`` when the entry has one), so the run's model.keras would not load back."""
    found, _ = scan_plugins(loaded.spec.plugins, loaded.doc, loaded.base_dir)
    out: list[Problem] = []
    seen: set[tuple[str, int]] = set()
    for i, entry in enumerate(loaded.spec.plugins):
        for classes in found.values():
            for cls in classes:
                if cls.kind != "layer" or cls.var_kwargs or (cls.file, cls.line) in seen:
                    continue
                if not _same_plugin(cls.file, entry):
                    continue
                seen.add((cls.file, cls.line))
                out.append(loaded.doc.problem(
                    ("plugins", i),
                    f"warning: plugin layer {cls.name} ({cls.file}:{cls.line}): its __init__ takes no **kwargs, "
                    "so a saved model holding it will not load back (Keras passes name, trainable and dtype)",
                    hint=f"def __init__(self, ..., **kwargs): super().__init__(**kwargs)"))
    return out


def _same_plugin(file: str, entry: str) -> bool:
    from pathlib import Path

    stem = Path(entry).stem if entry.endswith(".py") or "/" in entry else entry.split(".")[-1]
    return Path(file).stem == stem
