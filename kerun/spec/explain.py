"""``kerun explain``: the spec as it will run, every kerun default and Keras argument default filled in."""

from __future__ import annotations

from typing import Any

from kerun.spec import LoadedSpec
from kerun.spec import catalog

__all__ = ["explained"]


def _layer_defaults(entry: dict[str, Any]) -> dict[str, Any]:
    info = catalog.lookup("layer", entry.get("type", "")) if entry.get("type") else None
    if info is None:
        return entry
    out = dict(entry)
    for arg in info.args.values():
        if arg.name not in out and not arg.required and arg.type != "other" and arg.name not in _BASE_LAYER_ONLY:
            out[arg.name] = arg.default
    return out


# Arguments every layer takes; listing them on every entry would hide what matters.
_BASE_LAYER_ONLY = {"name", "dtype", "trainable", "autocast", "input_shape", "batch_input_shape", "batch_size",
                    "weights", "input_dim", "dynamic", "activity_regularizer", "synchronized"}


def explained(loaded: LoadedSpec) -> dict[str, Any]:
    spec = loaded.spec
    data = spec.model_dump(mode="json", exclude_none=True)
    data["name"] = loaded.name
    for section in [data["model"], *data.get("models", {}).values()]:
        section["layers"] = [_layer_defaults(e) for e in section["layers"]]
        if "outputs" not in section and section["layers"][-1].get("name"):
            section["outputs"] = section["layers"][-1]["name"]
    targets = data.get("data", {}).get("targets", {})
    if "*" in targets:
        outs = spec.model.output_names()
        targets[outs[0] if outs else "(the output)"] = targets.pop("*")
    return data
