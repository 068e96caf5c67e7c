"""``kerun explain``: the spec as it will run, every kerun default and Keras argument default filled in."""

from __future__ import annotations

import copy
from typing import Any

from kerun.spec import LoadedSpec
from kerun.spec import catalog

__all__ = ["explained"]


_ENTRY_KEYS = ("name", "type", "use", "inputs")


def _layer_defaults(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with every Keras default filled in, in one order whatever the input's order (entry
    keys, then the class's arguments as Keras declares them, then anything else), so that
    explaining an explained spec gives the same text."""
    info = catalog.lookup("layer", entry.get("type", "")) if entry.get("type") else None
    if info is None:
        return entry
    out = {k: entry[k] for k in _ENTRY_KEYS if k in entry}
    for arg in info.args.values():
        if arg.name in entry:
            out[arg.name] = entry[arg.name]
        elif not arg.required and arg.type != "other" and arg.name not in _BASE_LAYER_ONLY:
            out[arg.name] = copy.deepcopy(arg.default)
    out.update({k: v for k, v in entry.items() if k not in out})
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
        if outs:
            targets[outs[0]] = targets.pop("*")
        else:  # an unnamed single output keeps the shorthand: targets is the field description itself
            data["data"]["targets"] = targets.pop("*")
    weights = data.get("train", {}).get("class_weight")
    if isinstance(weights, dict):  # JSON mode wrote the class ids as strings; they are integers
        data["train"]["class_weight"] = {int(k): v for k, v in weights.items()}
    return data
