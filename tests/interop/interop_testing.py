"""What the interop tests share: a Keras model through ``kerun import`` and back, compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from kerun.model.model import BuiltModel, build_model
from kerun.interop.importer import import_model, transfer_weights
from kerun.spec import load_spec

# Operations Keras records outside layers (x + 3.0, a + b) become these layers in a spec.
OP_LAYERS = {"Add", "Subtract", "Multiply", "Rescaling"}


def layer_classes(model: keras.Model) -> list[str]:
    """Class names of every layer in order, nested Functional/Sequential models opened, inputs left out."""
    from keras.src.models.functional import Functional

    out: list[str] = []
    for layer in model.layers:
        if isinstance(layer, (keras.Sequential, Functional)):
            out.extend(layer_classes(layer))
        elif type(layer).__name__ != "InputLayer":
            out.append(type(layer).__name__)
    return out


def operation_count(model: keras.Model) -> int:
    """Operations in the graph that are not layers (keras.ops on symbolic tensors), nested models included."""
    from keras.src.models.functional import Functional

    count = 0
    for op in getattr(model, "_operations", model.layers):
        if isinstance(op, (keras.Sequential, Functional)):
            count += operation_count(op)
        elif not isinstance(op, keras.layers.Layer):
            count += 1
    return count


def assert_same_classes(original: keras.Model, built: keras.Model) -> None:
    """The built model has the original's layers in order; each Keras operation became one layer."""
    want, got = layer_classes(original), layer_classes(built)
    ops = operation_count(original)
    extra: list[str] = []
    i = 0
    for cls in got:
        if i < len(want) and cls == want[i]:
            i += 1
        else:
            extra.append(cls)
    assert i == len(want), f"missing layers from {want[i:i + 5]} on; built: {got[:20]}"
    assert len(extra) == ops and set(extra) <= OP_LAYERS, (extra, ops)


def sample_inputs(model: keras.Model, batch: int = 2, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        shape = (batch, *[d or 8 for d in t.shape[1:]])
        if "int" in str(t.dtype):
            arrays.append(rng.integers(0, 2, size=shape).astype(str(t.dtype)))
        else:
            arrays.append(rng.normal(size=shape).astype("float32"))
    return arrays[0] if len(arrays) == 1 else arrays


def flat_outputs(out: Any, names: Sequence[str] | None = None) -> list[np.ndarray]:
    if isinstance(out, dict):
        keys = list(names) if names else list(out)
        return [np.asarray(out[k]) for k in keys]
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    return [np.asarray(out)]


def roundtrip(model: keras.Model, tmp_path: Path, *, plugins: Sequence[Path] = (), suffix: str = ".keras",
              check: bool = True, rtol: float = 1e-5, atol: float = 1e-5) -> tuple[str, BuiltModel]:
    """Save ``model``, import it, build the spec, and compare parameters, layers and predictions."""
    source = tmp_path / f"model{suffix}"
    if suffix == ".json":
        source.write_text(model.to_json(), encoding="utf-8")
    else:
        model.save(source)
    spec_path = tmp_path / "spec.yaml"
    result = import_model(source, spec_path, plugins=plugins, overwrite=True)
    built = build_model(load_spec(spec_path))
    if check:
        assert built.model.count_params() == model.count_params()
        assert_same_classes(model, built.model)
        transfer_weights(model, built.model)
        x = sample_inputs(model)
        feed = x
        if isinstance(x, list):  # the spec keeps the names of several inputs
            feed = {t._keras_history[0].name: v for t, v in zip(model.inputs, x)}
            if isinstance(model._inputs_struct, dict):
                x = feed
        out = model(x, training=False)
        want = flat_outputs(out, built.output_names if isinstance(out, dict) else None)
        got = flat_outputs(built.model(feed, training=False), built.output_names)
        assert len(want) == len(got)
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return result.text, built

