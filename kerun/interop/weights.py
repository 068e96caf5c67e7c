"""Weights from a Keras model onto the kerun-built model of its imported spec, layer by layer."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kerun.errors import InteropError
from kerun.interop.keras_config import is_auto

__all__ = ["transfer_weights", "weighted_layers", "write_weights"]

# ---------------------------------------------------------------------------------------------
# weights


def weighted_layers(model: Any) -> list[Any]:
    """The layers that hold weights, in order, with nested Functional/Sequential models opened."""
    import keras
    from keras.src.models.functional import Functional

    out: list[Any] = []
    for layer in model.layers:
        if isinstance(layer, (keras.Sequential, Functional)):
            out.extend(weighted_layers(layer))
        elif layer.weights:
            out.append(layer)
    return out


def transfer_weights(source: Any, target: Any) -> int:
    """Copy the weights of ``source`` into ``target`` layer by layer; the number of arrays copied.

    Layers are paired by name where the name is not one Keras made up and is unique on both sides
    (the spec keeps such names), the rest in order. Raises :class:`InteropError` when a pair differs in
    class or weight shapes, or the two do not have as many layers with weights."""
    src, dst = weighted_layers(source), weighted_layers(target)
    if len(src) != len(dst):
        raise InteropError(f"the models have {len(src)} and {len(dst)} layers with weights; they cannot share weights")

    def unique(layers: list[Any]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for layer in layers:
            counts[layer.name] = counts.get(layer.name, 0) + 1
        return {layer.name: layer for layer in layers
                if counts[layer.name] == 1 and not is_auto(layer.name, type(layer).__name__)}

    named_src, named_dst = unique(src), unique(dst)
    pairs = {id(a): named_dst[n] for n, a in named_src.items()
             if n in named_dst and type(named_dst[n]).__name__ == type(a).__name__}
    taken = {id(b) for b in pairs.values()}
    rest = iter([b for b in dst if id(b) not in taken])
    copied = 0
    for a in src:
        b = pairs.get(id(a)) or next(rest)
        wa, wb = a.get_weights(), b.get_weights()
        if type(a).__name__ != type(b).__name__ or [w.shape for w in wa] != [w.shape for w in wb]:
            raise InteropError(f"layer {a.name!r} ({type(a).__name__}) does not match {b.name!r} ({type(b).__name__}) in the built model")
        b.set_weights(wa)
        copied += len(wa)
    return copied

def write_weights(model_path: Path, loaded: Any, target: Path) -> None:
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from kerun.model.model import build_model

    try:
        original = keras.models.load_model(model_path, safe_mode=True, compile=False)
    except (ValueError, TypeError, OSError) as exc:
        raise InteropError(f"cannot load the weights of {model_path}: {str(exc).splitlines()[0]}") from None
    built = build_model(loaded)
    transfer_weights(original, built.model)
    tmp = Path(tempfile.mkdtemp(prefix=".kerun-weights-", dir=target.parent))
    try:
        built.model.save_weights(tmp / target.name)
        os.replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
