"""``kerun explain`` prints a spec that kerun reads back: it validates, and explaining it again gives
the same text (a fixed point), for every example and for generated variations of them.

The explained text is read as if it stood beside the original spec, where its relative paths
(data files, plugins) point."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from kerun_testing import ALL_SPECS, EXAMPLES, SPECS
from kerun.errors import SpecError
from kerun.spec import dump_yaml, spec_from_text
from kerun.spec.explain import explained


def explain_text(text: str, file: str) -> str:
    return dump_yaml(explained(spec_from_text(text, file=file)))


@pytest.mark.parametrize("example", ALL_SPECS, ids=[str(p.relative_to(SPECS)) for p in ALL_SPECS])
def test_explained_example_validates_and_is_a_fixed_point(example) -> None:
    beside = str(example.parent / f"explained-{example.name}")
    once = explain_text(example.read_text(encoding="utf-8"), str(example))
    assert "&id" not in once, "a repeated value was written as a YAML anchor"
    twice = explain_text(once, beside)  # raises SpecError if kerun refuses what it printed
    assert twice == once


def test_explain_keeps_class_weight_ids_and_null_defaults() -> None:
    """The three ways explain used to print specs validate refused: string class ids, Keras's own
    null defaults, and a made-up name for an unnamed output."""
    text = """
data: {train: {type: sklearn, name: iris}, targets: {encoding: one_hot}}
model:
  inputs: {x: [4, 1]}
  layers:
    - {type: MaxPooling1D, pool_size: 2}
    - {type: Flatten}
    - {type: Dense, units: 3, activation: softmax}
compile: {loss: categorical_crossentropy}
train: {class_weight: {0: 1.0, 2: 3.0}}
"""
    out = yaml.safe_load(explain_text(text, str(EXAMPLES[0])))
    assert out["train"]["class_weight"] == {0: 1.0, 2: 3.0}
    assert out["model"]["layers"][0]["strides"] is None
    assert out["data"]["targets"] == {"encoding": "one_hot"}
    again = spec_from_text(text.replace("{type: Flatten}", "{type: Activation, activation: null}"), file=str(EXAMPLES[0]))
    assert dump_yaml(explained(again)).count("activation: null") == 1  # a null the spec wrote stays written
    spec_from_text(dump_yaml(out), file=str(EXAMPLES[0]))


_LAYER_VALUES = st.sampled_from([
    ("units", 7), ("units", 1), ("activation", "tanh"), ("activation", None), ("use_bias", False),
    ("kernel_initializer", "he_normal"), ("kernel_regularizer", {"type": "L2", "l2": 0.01}),
    ("padding", "same"), ("strides", None), ("rate", 0.25), ("name", "renamed"),
])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(example=st.sampled_from(EXAMPLES), index=st.integers(0, 40), change=_LAYER_VALUES,
       seed=st.one_of(st.none(), st.integers(0, 2**31 - 1)))
def test_explain_of_generated_variations(example, index, change, seed) -> None:
    """Each variation that kerun accepts explains to a spec it accepts again, unchanged by a second
    explain; variations it refuses are simply skipped."""
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    if "model" not in data:  # a spec that extends another (iris_wide.yaml) has its layers in the base
        return
    layers = data["model"]["layers"]
    entry = layers[index % len(layers)]
    key, value = change
    if isinstance(entry, dict) and "type" in entry:
        entry[key] = value
    if seed is not None:
        data["seed"] = seed
    try:
        once = explain_text(dump_yaml(data), str(example))
    except SpecError:
        return
    assert explain_text(once, str(example)) == once
