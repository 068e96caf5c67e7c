"""Whether a saved model loads back: a run is called completed only once its model.keras does.

A plugin class whose ``get_config`` leaves out a constructor argument saves without complaint and
fails only when the file is loaded (``kerun eval``, ``kerun predict``). Training loads the file it
saved, as ``kerun eval`` will, and on failure names the class: each plugin layer of the model is
rebuilt from its own config, and the first that cannot be is the one to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from kerun.errors import RunError
from kerun.model.plugins import origin_text

__all__ = ["check_reloads", "incomplete_config"]


def _own_layers(model: Any) -> list[Any]:
    """The model and every layer inside it, nested ones included, outermost first."""
    seen: list[Any] = []
    for layer in [model, *model._flatten_layers(include_self=False, recursive=True)]:
        if not any(layer is s for s in seen):
            seen.append(layer)
    return seen


def incomplete_config(model: Any) -> tuple[type, str] | None:
    """The first class that is not Keras's own whose ``from_config(get_config())`` fails, and why."""
    for layer in reversed(_own_layers(model)):  # innermost first: an outer class fails because of an inner one
        cls = type(layer)
        if cls.__module__.startswith("keras"):
            continue
        try:
            config = layer.get_config()
        except Exception as exc:  # noqa: BLE001 - a plugin's get_config that raises is the finding
            return cls, f"get_config() raised {origin_text(exc)}{type(exc).__name__}: {exc}"
        try:
            cls.from_config(config)
        except Exception as exc:  # noqa: BLE001 - as above
            missing = _missing_arguments(cls, config)
            if missing:
                return cls, f"its config has no {', '.join(repr(m) for m in missing)}, which __init__ requires"
            return cls, f"{origin_text(exc)}{type(exc).__name__}: {exc}"
    return None


def _missing_arguments(cls: type, config: dict[str, Any]) -> list[str]:
    """The arguments ``cls.__init__`` requires (no default) that ``config`` does not hold."""
    import inspect

    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.name != "self" and p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in config]


def check_reloads(model: Any, file: Path) -> Any:
    """Load ``file`` (what ``model`` was saved to) as ``kerun eval`` does, and return what was
    loaded (``kerun check`` compares it with ``model``); a RunError if it cannot be."""
    try:
        return keras.models.load_model(file, safe_mode=True, compile=True)
    except Exception as exc:  # noqa: BLE001 - whatever stops the load stops eval and predict too
        found = incomplete_config(model)
        first = origin_text(exc) + (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        if found is not None:
            cls, why = found
            raise RunError(
                f"the trained model was saved to {file} but does not load back: {cls.__name__}'s get_config() "
                f"does not rebuild it ({why.splitlines()[0][:300]})",
                hint=f"return every argument of {cls.__name__}.__init__ from its get_config() "
                f"(defined in {_where(cls)}), and accept **kwargs in __init__ passed on to super().__init__",
            ) from None
        raise RunError(f"the trained model was saved to {file} but does not load back: {first}",
                       hint="kerun eval and kerun predict could not use it; see kerun check for the saved-model checks") from None


def _where(cls: type) -> str:
    import inspect

    try:
        return f"{inspect.getsourcefile(cls)}:{inspect.getsourcelines(cls)[1]}"
    except (OSError, TypeError):
        return cls.__module__
