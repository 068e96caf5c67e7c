"""kerun import: Keras models in, specs out, and the same model built back from the spec."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from interop_testing import roundtrip, sample_inputs
from kerun_testing import EXAMPLES
from kerun.model.model import build_model
from kerun.cli import app
from kerun.errors import BuildError, SpecError
from kerun.interop import InteropError
from kerun.interop.importer import import_model
from kerun.spec import load_spec, spec_from_text

L = keras.layers
HERE = Path(__file__).parent
APP_PLUGINS = HERE / "app_plugins.py"
runner = CliRunner()


def _spec_plugins(path: Path) -> list[Path]:
    plugins = yaml.safe_load(path.read_text()).get("plugins") or []
    return [path.parent / p for p in plugins]


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_specs_round_trip(spec: Path, tmp_path: Path) -> None:
    """Every example's model, saved by Keras, imports to a spec that builds the same model."""
    original = build_model(load_spec(spec)).model
    roundtrip(original, tmp_path, plugins=_spec_plugins(spec), suffix=".json")


def test_straight_chain_is_a_plain_list_without_defaults_or_made_up_names(tmp_path: Path) -> None:
    x = keras.Input((8, 8, 1))
    h = L.Conv2D(16, 3, activation="relu", padding="same")(x)
    h = L.MaxPooling2D(2)(h)
    h = L.Flatten()(h)
    h = L.Dense(32, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-3), name="hidden")(h)
    h = L.Dropout(0.5)(h)
    model = keras.Model(x, L.Dense(10, activation="softmax")(h), name="digits")
    text, built = roundtrip(model, tmp_path)
    assert text.splitlines()[1:] == [
        "name: digits",
        "model:",
        "  inputs:",
        "    x: [8, 8, 1]",
        "  layers:",
        "  - {type: Conv2D, filters: 16, kernel_size: 3, padding: same, activation: relu}",
        "  - {type: MaxPooling2D}",
        "  - {type: Flatten}",
        "  - name: hidden",
        "    type: Dense",
        "    units: 32",
        "    activation: relu",
        "    kernel_regularizer: {type: L2, l2: 0.001}",
        "  - {type: Dropout, rate: 0.5}",
        "  - {type: Dense, units: 10, activation: softmax}",
    ]
    assert built.sequential


def _graph_model() -> keras.Model:
    """Two inputs, a shared embedding, a nested Sequential used twice, a residual Add, two outputs."""
    a = keras.Input((6,), dtype="int32", name="a")
    b = keras.Input((6,), dtype="int32", name="b")
    emb = L.Embedding(50, 8)
    block = keras.Sequential([keras.Input((6, 8)), L.Dense(8, activation="tanh"), L.LayerNormalization()], name="block")
    ea, eb = emb(a), emb(b)
    ha, hb = block(ea), block(eb)
    ra = L.Add()([ha, ea])
    merged = L.Concatenate()([L.GlobalAveragePooling1D()(ra), L.GlobalMaxPooling1D()(hb)])
    score = L.Dense(1, activation="sigmoid", name="score")(merged)
    kind = L.Dense(3, activation="softmax", name="kind")(merged)
    return keras.Model([a, b], [score, kind])


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".json"])
def test_graph_round_trips_through_keras_h5_and_json(suffix: str, tmp_path: Path) -> None:
    text, built = roundtrip(_graph_model(), tmp_path, suffix=suffix)
    spec = yaml.safe_load(text)
    assert list(spec["models"]) == ["block"]
    entries = spec["model"]["layers"]
    assert [e for e in entries if "use" in e], "the second call of a shared layer is a 'use:' entry"
    assert spec["model"]["outputs"] == ["score", "kind"]
    assert built.input_names == ["a", "b"] and built.output_names == ["score", "kind"]


def test_lstm_states_and_call_keywords(tmp_path: Path) -> None:
    src = keras.Input((5,), dtype="int32")
    tgt = keras.Input((7,), dtype="int32")
    emb = L.Embedding(30, 8)
    _, h, c = L.LSTM(12, return_state=True)(emb(src))
    seq = L.LSTM(12, return_sequences=True)(emb(tgt), initial_state=[h, c])
    model = keras.Model([src, tgt], L.Dense(30)(seq))
    text, _ = roundtrip(model, tmp_path)
    assert "initial_state: [lstm1.1, lstm1.2]" in text


def test_lambda_is_refused_naming_the_layer(tmp_path: Path) -> None:
    x = keras.Input((4,))
    model = keras.Model(x, L.Dense(2)(L.Lambda(lambda t: t * 2.0, name="double")(x)))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(InteropError, match="layer 'double' is a Lambda layer"):
        import_model(path, tmp_path / "spec.yaml")
    result = runner.invoke(app, ["import", str(path), "-o", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 2
    assert "layer 'double' is a Lambda layer" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "spec.yaml").exists()


def _layer_scale_model() -> keras.Model:
    from keras.src.applications.convnext import LayerScale

    x = keras.Input((4, 4, 8))
    h = L.Conv2D(8, 1)(x)
    return keras.Model(x, L.Add()([x, LayerScale(1e-6, 8, name="scale")(h)]))


def test_keras_application_layers_import_without_a_plugin(tmp_path: Path) -> None:
    # ConvNeXt's LayerScale is Keras's code (keras.src.applications.convnext), not the user's:
    # no plugin needed (issue 13, point 11; kerun/spec/keras_internal.py).
    path = tmp_path / "model.keras"
    _layer_scale_model().save(path)
    result = runner.invoke(app, ["import", str(path), "-o", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 0, result.stderr
    spec = yaml.safe_load((tmp_path / "spec.yaml").read_text())
    assert "plugins" not in spec
    assert {"name": "scale", "type": "LayerScale", "init_values": 1e-06, "projection_dim": 8} in spec["model"]["layers"]
    text, _ = roundtrip(_layer_scale_model(), tmp_path)
    assert "plugins" not in yaml.safe_load(text)


def test_keras_operations_become_layers(tmp_path: Path) -> None:
    """MobileNetV3's hard sigmoid is ``ReLU(6)(x + 3) * (1 / 6)``: operations, not layers."""
    x = keras.Input((4,))
    h = L.Dense(4)(x)
    y = L.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)
    model = keras.Model(x, L.Multiply()([h, y]) - h)
    text, _ = roundtrip(model, tmp_path, rtol=0, atol=0)
    assert "{type: Rescaling, scale: 1.0, offset: 3.0}" in text and "type: Subtract" in text


def test_a_small_application_round_trips(tmp_path: Path) -> None:
    """MobileNetV3Small has Rescaling, ZeroPadding2D, DepthwiseConv2D, Add/Multiply merges and
    keras.ops arithmetic; the whole of keras.applications is in test_applications.py (slow)."""
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3))
    roundtrip(model, tmp_path)


def test_weights_travel_and_training_starts_from_them(tmp_path: Path) -> None:
    x = keras.Input((6,))
    h = L.Dense(16, activation="relu", name="features")(x)
    model = keras.Model(x, L.Dense(3, name="head")(L.BatchNormalization()(h)))
    model.layers[-2].set_weights([np.full((16,), v, "float32") for v in (1.5, 0.1, 0.2, 2.0)])
    path = tmp_path / "trained.keras"
    model.save(path)
    spec_path = tmp_path / "transfer.yaml"
    result = runner.invoke(app, ["import", str(path), "-o", str(spec_path), "--weights"])
    assert result.exit_code == 0, result.stderr
    weights = tmp_path / "transfer.weights.h5"
    assert weights.is_file()
    spec = yaml.safe_load(spec_path.read_text())
    assert spec["train"] == {"initial_weights": "transfer.weights.h5"}
    built = build_model(load_spec(spec_path, ["train.freeze=[features]"]))
    xs = sample_inputs(model)
    np.testing.assert_allclose(built.model(xs), model(xs), rtol=1e-6, atol=1e-6)
    assert built.model.get_layer("features").trainable is False
    assert built.model.get_layer("head").trainable is True


def _start_spec(tmp_path: Path, train: str) -> str:
    return (f"model:\n  inputs: {{x: [4]}}\n  layers:\n    - {{name: hidden, type: Dense, units: 3}}\n"
            f"    - {{name: out, type: Dense, units: 1}}\ntrain: {train}\n")


def test_freeze_names_an_entry(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        spec_from_text(_start_spec(tmp_path, "{freeze: [hiden]}"), file=str(tmp_path / "s.yaml"))
    assert "train.freeze[0]: 'hiden' names no entry of model.layers" in err.value.render()
    assert "did you mean 'hidden'?" in err.value.render()
    with pytest.raises(SpecError, match="expected a .weights.h5 file"):
        spec_from_text(_start_spec(tmp_path, "{initial_weights: w.h5}"), file=str(tmp_path / "s.yaml"))


def test_missing_or_mismatched_initial_weights_are_build_errors(tmp_path: Path) -> None:
    loaded = spec_from_text(_start_spec(tmp_path, "{initial_weights: w.weights.h5}"), file=str(tmp_path / "s.yaml"))
    with pytest.raises(BuildError, match="no weights file") as err:
        build_model(loaded)
    assert err.value.problems[0].path == ("train", "initial_weights")
    other = keras.Sequential([keras.Input((4,)), L.Dense(5), L.Dense(1)])
    other.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(BuildError, match="do not fit this model") as err:
        build_model(loaded)
    assert err.value.location is not None and err.value.location.line == 6


def test_import_prints_the_spec_without_output(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(keras.Sequential([keras.Input((3,)), L.Dense(2)]).to_json())
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 0, result.stderr
    assert "- {type: Dense, units: 2}" in result.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    result = runner.invoke(app, ["import", str(bad)])
    assert result.exit_code == 2 and "holds no Keras model configuration" in result.stderr
