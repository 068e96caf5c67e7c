"""A loss that does not fit the model's output is reported at ``compile.loss`` (issue 15)."""

from __future__ import annotations

import pytest

from kerun.errors import RunError
from kerun.model.runtime import runtime_errors
from kerun.spec.loader import parse_document

SPEC = """\
model:
  inputs: {x: [4]}
  layers:
    - {name: out, type: Dense, units: 3, activation: softmax}
compile:
  optimizer: adam
  loss: categorical_crossentropy
train:
  epochs: 1
"""


class KerasValueError(ValueError):
    __module__ = "keras.src.backend.tensorflow.nn"  # as raised inside Keras


def test_a_loss_that_does_not_fit_points_at_compile_loss() -> None:
    doc = parse_document(SPEC, "spec.yaml")
    with pytest.raises(RunError) as caught, runtime_errors(doc, {"out": ("model", "layers", 0)}, ("train",), "training"):
        raise KerasValueError("Arguments `target` and `output` must have the same rank (ndim). "
                              "Received: target.shape=(None,), output.shape=(None, 3)")
    problem = caught.value.problems[0]
    assert problem.path == ("compile", "loss")
    assert (problem.location.line, problem.location.column) == (7, 9)
    assert "data.targets" in (problem.hint or "")


def test_other_training_errors_stay_at_train() -> None:
    doc = parse_document(SPEC, "spec.yaml")
    with pytest.raises(RunError) as caught, runtime_errors(doc, {}, ("train",), "training"):
        raise KerasValueError("something else went wrong")
    assert caught.value.problems[0].path == ("train",)
