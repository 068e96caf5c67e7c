"""A preprocessing layer inside a ``models:`` sub-model is adapted on the data that reaches it: the
training inputs through the entries before the sub-model, then through the sub-model's own entries
before the layer, nested sub-models too (issue 23, point 5). Where that data depends on weights not
trained yet, or cannot be traced to the inputs, a clear error says why and what to do."""

from __future__ import annotations

import numpy as np
import pytest

from kerun.errors import BuildError
from kerun.spec import spec_from_text

X = np.random.default_rng(7).normal(loc=[1.0, -2.0, 5.0], scale=[1.0, 3.0, 0.5], size=(64, 3)).astype("float32")

NESTED = """\
name: nested
models:
  inner:
    inputs: {i: [3]}
    layers:
      - {type: Rescaling, scale: 0.5}
      - {type: Normalization, name: norm}
  outer:
    inputs: {o: [3]}
    layers:
      - {type: Rescaling, scale: 1.0, offset: -1.0}
      - {type: inner, name: deep}
      - {type: Dense, units: 3}
model:
  inputs: {x: [3]}
  layers:
    - {type: Rescaling, scale: 3.0}
    - {type: outer, name: out}
    - {type: Dense, units: 1}
"""

FROM_INPUT = """\
name: from-input
models:
  augment:
    inputs: {a: [3]}
    layers:
      - {type: Rescaling, scale: 2.0, offset: 1.0}
      - {type: Normalization, name: norm}
model:
  inputs: {x: [3]}
  layers:
    - {type: augment, name: aug}
    - {type: Dense, units: 4, name: hidden, inputs: aug}
    - {type: Dense, units: 1}
"""


def _build(text: str) -> object:
    import tensorflow as tf

    from kerun.model.model import build_model

    return build_model(spec_from_text(text), adapt_data=lambda: tf.data.Dataset.from_tensor_slices(X).batch(16))


def _assert_adapted(norm: object, reaching: np.ndarray) -> None:
    np.testing.assert_allclose(np.asarray(norm.mean).ravel(), reaching.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(norm.variance).ravel(), reaching.var(axis=0), rtol=1e-4, atol=1e-5)


def test_a_normalization_in_a_sub_model_fed_from_an_input() -> None:
    built = _build(FROM_INPUT)
    norm = built.model.get_layer("aug").get_layer("norm")
    _assert_adapted(norm, X * 2.0 + 1.0)  # after the sub-model's Rescaling
    assert norm in built.adapted


def test_a_normalization_in_a_nested_sub_model_sees_every_entry_before_it() -> None:
    built = _build(NESTED)
    norm = built.model.get_layer("out").get_layer("deep").get_layer("norm")
    _assert_adapted(norm, (X * 3.0 - 1.0) * 0.5)  # main's Rescaling, outer's, inner's


def test_data_through_untrained_weights_cannot_adapt_a_layer() -> None:
    text = FROM_INPUT.replace("      - {type: Rescaling, scale: 2.0, offset: 1.0}", "      - {type: Dense, units: 3, name: mix}")
    with pytest.raises(BuildError) as info:
        _build(text)
    err = info.value
    assert "Normalization (norm): a Normalization cannot be adapted: the data reaching it passes through mix" in err.message
    assert "weights are not trained yet" in err.message and err.location.line == 7
    assert "give its state in the spec" in err.problems[0].hint and "move it before the layers that have weights" in err.problems[0].hint


def test_a_sub_model_given_as_an_argument_cannot_adapt_a_layer_and_says_why() -> None:
    text = FROM_INPUT.replace("    - {type: augment, name: aug}", "    - {type: TimeDistributed, layer: {type: augment}, name: aug}"
                              ).replace("inputs: {x: [3]}", "inputs: {x: [2, 3]}")
    with pytest.raises(BuildError) as info:
        _build(text)
    assert "no training data reaches its sub-model" in info.value.message
    assert "use the sub-model as an entry of its own" in info.value.problems[0].hint
