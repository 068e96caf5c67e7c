"""Adapted preprocessing layers across the supported Keras versions (issue 21).

Keras before 3.9 starts an unadapted ``Discretization``'s ``bin_boundaries`` as ``[]`` (not None):
kerun took that for boundaries given and never adapted the layer, which then put every value in bin
0 and saved a model that does not load. And Keras before 3.14 declares a one-hot
``Discretization``'s output as wide as its input, so the layers after it are built on a width the
layer does not compute: kerun refuses that with the fix, where a hand-written model fails in fit.
These tests run on the newest pair and (in .ci/oldest) on Keras 3.7, each asserting what holds there.
"""

from __future__ import annotations

import numpy as np
import pytest

from kerun.errors import BuildError
from kerun.spec import spec_from_text

SPEC = """\
name: bins
seed: 1
model:
  inputs: {price: [1]}
  layers:
    - {name: price_bins, type: Discretization, num_bins: 4, MODE}
    - {type: Dense, units: 2, activation: softmax}
"""

PRICES = np.linspace(0.0, 100.0, 64, dtype="float32").reshape(-1, 1)


def _adapt_data():  # type: ignore[no-untyped-def]
    import tensorflow as tf

    return lambda: tf.data.Dataset.from_tensor_slices(PRICES).batch(16)


def _declares_one_hot_width() -> bool:
    import keras

    layer = keras.layers.Discretization(bin_boundaries=[1.0, 2.0, 3.0], output_mode="one_hot")
    return layer.compute_output_spec(keras.KerasTensor((None, 1))).shape[-1] == 4


def test_a_discretization_without_boundaries_is_adapted_on_the_data_whatever_the_keras_version() -> None:
    from kerun.model.model import build_model

    built = build_model(spec_from_text(SPEC.replace(", MODE", "")), adapt_data=_adapt_data())
    bins = built.model.get_layer("price_bins")
    assert bins in built.adapted
    assert np.allclose(bins.bin_boundaries, [25.0, 50.0, 75.0], atol=2.0)
    out = bins(np.array([[10.0], [40.0], [60.0], [90.0]], dtype="float32"))
    assert np.ravel(np.asarray(out)).tolist() == [0, 1, 2, 3]


def test_a_one_hot_discretization_builds_where_keras_declares_its_width_and_is_refused_where_not() -> None:
    from kerun.model.model import build_model

    loaded = spec_from_text(SPEC.replace("MODE", "output_mode: one_hot"))
    if _declares_one_hot_width():
        built = build_model(loaded, adapt_data=_adapt_data())
        assert built.model.get_layer("price_bins").output.shape == (None, 4)
        assert built.model.count_params() == 4 * 2 + 2
        return
    with pytest.raises(BuildError) as info:
        build_model(loaded, adapt_data=_adapt_data())
    error = info.value
    assert "declares this Discretization's output 1 wide but computes it 4 wide once adapted" in str(error)
    assert "CategoryEncoding" in (error.problems[0].hint or "")
    assert error.location is not None and error.location.line == 6
