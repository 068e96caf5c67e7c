"""The YAML loader: positions, YAML 1.2 scalars, safety limits, overrides."""

from __future__ import annotations

import math

import pytest

from kerun.errors import SpecError
from kerun.spec.loader import MAX_DEPTH, parse_document
from kerun.spec.overrides import apply_overrides, resolve_path

SPEC = """\
name: demo
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 32, name: hidden}
    - type: Dense
      units: 3
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
"""


def test_positions_of_values_and_keys() -> None:
    doc = parse_document(SPEC, "s.yaml")
    loc = doc.locate(("model", "layers", 0, "units"))
    assert (loc.line, loc.column) == (5, 28)
    key = doc.locate(("model", "layers", 0, "units"), key=True)
    assert (key.line, key.column) == (5, 21)
    block = doc.locate(("model", "layers", 1, "units"))
    assert (block.line, block.column) == (7, 14)
    # a path that does not exist points at its nearest ancestor
    assert doc.locate(("model", "layers", 1, "nope")).line == 6


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1e-4", 0.0001),
        ("3", 3),
        ("3.0", 3.0),
        ("0x10", 16),
        ("1_000", 1000),
        (".inf", math.inf),
        ("no", "no"),
        ("on", "on"),
        ("yes", "yes"),
        ("true", True),
        ("False", False),
        ("~", None),
        ('"1"', "1"),
        ("'true'", "true"),
        ("!!str 5", "5"),
        ("!!float 5", 5.0),
    ],
)
def test_yaml_1_2_scalars(text: str, expected: object) -> None:
    assert parse_document(f"v: {text}", "s.yaml").data["v"] == expected


def test_nan_is_a_float() -> None:
    assert math.isnan(parse_document("v: .nan", "s.yaml").data["v"])


def test_deep_nesting_refused() -> None:
    with pytest.raises(SpecError) as err:
        parse_document("v: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5), "s.yaml")
    assert "nested" in err.value.message


def test_very_deep_nesting_refused_without_recursion_error() -> None:
    with pytest.raises(SpecError):
        parse_document("v: " + "[" * 100_000, "s.yaml")


def test_several_documents_refused() -> None:
    with pytest.raises(SpecError) as err:
        parse_document("a: 1\n---\nb: 2\n", "s.yaml")
    assert "one YAML document" in err.value.message
    assert err.value.location.line == 2


def test_aliases_within_budget_expand() -> None:
    doc = parse_document("base: &b {type: Dense, units: 3}\nother: *b\n", "s.yaml")
    assert doc.data["other"] == {"type": "Dense", "units": 3}
    doc.data["other"]["units"] = 4
    assert doc.data["base"]["units"] == 3  # copies, not shared objects


def test_bad_explicit_tag_value() -> None:
    with pytest.raises(SpecError) as err:
        parse_document("v: !!int abc", "s.yaml")
    assert "not a valid int" in err.value.message


def test_overrides_by_name_index_and_new_key() -> None:
    doc = parse_document(SPEC, "s.yaml")
    apply_overrides(doc, ["model.layers.hidden.units=20", "model.layers.1.units=5", "train.epochs=3",
                          "compile.optimizer.learning_rate=1e-4", "model.layers[0].activation=relu"])
    layers = doc.data["model"]["layers"]
    assert layers[0]["units"] == 20 and layers[1]["units"] == 5 and layers[0]["activation"] == "relu"
    assert doc.data["train"] == {"epochs": 3}
    assert doc.data["compile"]["optimizer"]["learning_rate"] == 0.0001
    # errors at an overridden value name the override
    assert str(doc.locate(("train", "epochs"))) == "--set train.epochs=3"


def test_override_errors_name_the_override() -> None:
    doc = parse_document(SPEC, "s.yaml")
    with pytest.raises(SpecError) as err:
        apply_overrides(doc, ["model.layers.hiden.units=3"])
    assert "did you mean 'hidden'" in err.value.message
    assert str(err.value.location) == "--set model.layers.hiden.units=3"
    with pytest.raises(SpecError) as err:
        apply_overrides(doc, ["train.epochs"])
    assert "PATH=VALUE" in err.value.message


def test_resolve_path_into_scalar_is_an_error() -> None:
    doc = parse_document(SPEC, "s.yaml")
    with pytest.raises(KeyError):
        resolve_path(doc.data, "name.first")
