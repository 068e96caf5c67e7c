"""One of a sub-model's several outputs picked by number (``enc.2``) or by name (``enc.z``) (issue 23, point 3)."""

from __future__ import annotations

import pytest

from kerun.errors import SpecError
from kerun.spec import spec_from_text

SPEC = """\
name: sub
seed: 1
models:
  encoder:
    inputs: {x: [6]}
    layers:
      - {type: Dense, units: 4, name: mean}
      - {type: Dense, units: 3, name: log_var, inputs: x}
      - {type: Dense, units: 2, name: z, inputs: mean}
    outputs: [mean, log_var, z]
model:
  inputs: {x: [6]}
  layers:
    - {type: encoder, name: enc}
    - {type: Identity, inputs: PICK, name: picked}
    - {type: Dense, units: 3, activation: softmax}
"""


@pytest.mark.parametrize("pick, width", [("enc.0", 4), ("enc.1", 3), ("enc.2", 2), ("enc.mean", 4), ("enc.log_var", 3), ("enc.z", 2)])
def test_a_sub_model_output_by_number_and_by_name(pick: str, width: int) -> None:
    from kerun.model.model import build_model

    built = build_model(spec_from_text(SPEC.replace("PICK", pick)))
    assert built.model.get_layer("picked").output.shape == (None, width)  # numbered in the spec's outputs order


@pytest.mark.parametrize("pick, message, hint", [
    ("enc.3", "'enc.3': the sub-model entry 'enc' has 3 outputs, numbered from 0", "its outputs: 0: mean, 1: log_var, 2: z"),
    ("enc.log_vr", "'enc.log_vr': the sub-model entry 'enc' has no output 'log_vr'", "did you mean 'log_var'?"),
])
def test_validate_refuses_an_output_the_sub_model_lacks(pick: str, message: str, hint: str) -> None:
    with pytest.raises(SpecError) as info:
        spec_from_text(SPEC.replace("PICK", pick))
    problem = info.value.problems[0]
    assert problem.message.endswith(message) and problem.hint == hint
    assert problem.location is not None and problem.location.line == 15
