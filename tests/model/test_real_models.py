"""What a Keras user writes, written as a spec, gives what Keras gives (issue 13, points 1-6, 10, 11).

Each test trains in-process on a few rows of a CSV written to tmp_path, one epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kerun.errors import BuildError, KerunError, RunError, SpecError
from kerun.model.model import build_model
from kerun.run.options import TrainOptions
from kerun.run.train import train
from kerun.spec import load_spec

keras = pytest.importorskip("keras")

QUIET = dict(progress="quiet")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def run(tmp_path: Path, spec: str, **files: str):
    for name, text in files.items():
        write(tmp_path, name, text)
    return train(load_spec(write(tmp_path, "s.yaml", spec)), TrainOptions(runs_dir=tmp_path / "runs", **QUIET))


def layer(result, name: str):
    return result.built.model.get_layer(name)


# -- 1. inputs paired by name ----------------------------------------------------------------

ZA = "zeta,alpha,city,y\n" + "".join(f"{100 + i},{-5 - i % 3},{'ab'[i % 2]},{i % 2}\n" for i in range(20))
ZA_SPEC = """
name: za
seed: 1
data: {train: {type: csv, path: za.csv, label: y}}
model:
  inputs: {zeta: [1], alpha: [1], city: {shape: [1], dtype: string}}
  layers:
    - {name: nz, type: Normalization, inputs: zeta}
    - {name: na, type: Normalization, inputs: alpha}
    - {name: lc, type: StringLookup, output_mode: one_hot, inputs: city}
    - {name: cat, type: Concatenate, inputs: [nz, na, lc]}
    - {name: out, type: Dense, units: 1, activation: sigmoid}
compile: {optimizer: adam, loss: binary_crossentropy}
train: {epochs: 1, batch_size: 8}
"""


@pytest.fixture(scope="module")
def za_run(tmp_path_factory):
    return run(tmp_path_factory.mktemp("za"), ZA_SPEC, **{"za.csv": ZA})


ZETA = np.array([100 + i for i in range(20)], dtype=np.float32)
ALPHA = np.array([-5 - i % 3 for i in range(20)], dtype=np.float32)


def test_each_input_is_adapted_on_its_own_column(za_run) -> None:
    assert float(np.ravel(layer(za_run, "nz").mean)[0]) == pytest.approx(ZETA.mean(), rel=1e-5)
    assert float(np.ravel(layer(za_run, "na").mean)[0]) == pytest.approx(ALPHA.mean(), rel=1e-5)


def test_inputs_are_paired_by_name_not_by_keras_order(tmp_path: Path) -> None:
    # Only Normalization layers: this model trained on today's code too, with the means swapped.
    spec = ZA_SPEC.replace(", city: {shape: [1], dtype: string}}", "}").replace(
        "    - {name: lc, type: StringLookup, output_mode: one_hot, inputs: city}\n", "").replace("[nz, na, lc]", "[nz, na]")
    result = run(tmp_path, spec, **{"za.csv": ZA})
    assert float(np.ravel(layer(result, "nz").mean)[0]) == pytest.approx(ZETA.mean(), rel=1e-5)
    assert float(np.ravel(layer(result, "na").mean)[0]) == pytest.approx(ALPHA.mean(), rel=1e-5)


# -- 2. adapt first, then build what follows -------------------------------------------------


def test_one_hot_lookup_without_vocabulary_feeds_a_dense(za_run) -> None:
    lc = layer(za_run, "lc")
    twin = keras.layers.StringLookup(output_mode="one_hot")
    twin.adapt(np.array([["ab"[i % 2]] for i in range(20)]))
    assert lc.get_vocabulary() == twin.get_vocabulary()
    # 1 + 1 + 3 one-hot columns into one unit: 6 weights; Keras's own model has as many.
    assert layer(za_run, "out").count_params() == 6


def test_without_data_a_lookup_is_built_as_wide_as_its_oov_indices(tmp_path: Path) -> None:
    write(tmp_path, "za.csv", ZA)
    built = build_model(load_spec(write(tmp_path, "s.yaml", ZA_SPEC)))
    assert built.model.get_layer("lc").output.shape[-1] == 1
    assert [lay.name for lay in built.adapt] == ["nz", "na", "lc"]


# -- 3. a layer given its state is not adapted -----------------------------------------------


def test_given_vocabulary_and_mean_are_kept(tmp_path: Path) -> None:
    spec = ZA_SPEC.replace("{name: lc, type: StringLookup, output_mode: one_hot,",
                           "{name: lc, type: StringLookup, output_mode: one_hot, vocabulary: [b, a],")
    spec = spec.replace("{name: nz, type: Normalization,", "{name: nz, type: Normalization, mean: 3.0, variance: 4.0,")
    result = run(tmp_path, spec, **{"za.csv": ZA})
    assert layer(result, "lc").get_vocabulary() == ["[UNK]", "b", "a"]
    assert float(np.ravel(layer(result, "nz").mean)[0]) == 3.0
    assert float(np.ravel(layer(result, "na").mean)[0]) == pytest.approx(-6.0, abs=0.1)


# -- 4. subclasses of preprocessing layers are adapted ---------------------------------------

LOOKUP_PLUGIN = '''
import keras

@keras.saving.register_keras_serializable(package="t")
class CityLookup(keras.layers.StringLookup):
    pass
'''


CITY_SPEC = """
name: city
seed: 1
plugins: [lookups.py]
data: {train: {type: csv, path: za.csv, label: y, columns: [city, y]}}
model:
  inputs: {city: {shape: [1], dtype: string}}
  layers:
    - {name: lc, type: CityLookup}
    - {type: Embedding, input_dim: 3, output_dim: 2}
    - {type: Flatten}
    - {type: Dense, units: 1, activation: sigmoid}
compile: {optimizer: adam, loss: binary_crossentropy}
train: {epochs: 1, batch_size: 8}
"""


def test_a_subclass_of_string_lookup_is_adapted(tmp_path: Path) -> None:
    # One input and output_mode int: only the class decides whether the layer is adapted.
    result = run(tmp_path, CITY_SPEC, **{"za.csv": ZA, "lookups.py": LOOKUP_PLUGIN})
    assert type(layer(result, "lc")).__name__ == "CityLookup"
    twin = keras.layers.StringLookup()
    twin.adapt(np.array([["ab"[i % 2]] for i in range(20)]))
    assert layer(result, "lc").get_vocabulary() == twin.get_vocabulary()


# -- 5. functions as arguments ---------------------------------------------------------------

FUNCTIONS = '''
import keras
import tensorflow as tf

@keras.saving.register_keras_serializable(package="t")
def strip_html(text):
    return tf.strings.regex_replace(tf.strings.lower(text), "<br />", " ")

@keras.saving.register_keras_serializable(package="t")
def half_relu(x):
    return 0.5 * keras.ops.relu(x)

@keras.saving.register_keras_serializable(package="t")
def scaled_mse(y_true, y_pred):
    return 2.0 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)

@keras.saving.register_keras_serializable(package="t")
def mean_error(y_true, y_pred):
    return keras.ops.mean(y_pred - y_true, axis=-1)
'''
TEXTS = "text,y\n" + "".join(f"\"{w} the<br />Movie\",{i % 2}\n" for i, w in enumerate(["Good", "BAD", "fine", "Okay"] * 4))
TEXT_SPEC = """
name: txt
seed: 2
plugins: [functions.py]
data: {train: {type: csv, path: t.csv, label: y}}
model:
  inputs: {text: {shape: [], dtype: string}}
  layers:
    - {type: TextVectorization, standardize: strip_html, output_mode: multi_hot, name: vec}
    - {type: Dense, units: 3, activation: half_relu, name: hidden}
    - {type: Dense, units: 1}
compile: {optimizer: adam, loss: scaled_mse, metrics: [mean_error]}
train: {epochs: 1, batch_size: 4}
"""


def test_registered_functions_are_arguments(tmp_path: Path) -> None:
    result = run(tmp_path, TEXT_SPEC, **{"t.csv": TEXTS, "functions.py": FUNCTIONS})
    vec = layer(result, "vec")
    assert vec._standardize.__name__ == "strip_html"
    twin = keras.layers.TextVectorization(standardize=vec._standardize, output_mode="multi_hot")
    twin.adapt(np.array([f"{w} the<br />Movie" for w in ["Good", "BAD", "fine", "Okay"] * 4]))
    assert vec.get_vocabulary() == twin.get_vocabulary()
    assert "br" not in vec.get_vocabulary()
    assert layer(result, "hidden").activation.__name__ == "half_relu"
    assert "mean_error" in result.metrics["train"]
    assert result.built.model.loss.__name__ == "scaled_mse"


def test_validate_knows_plugin_functions_and_suggests_them(tmp_path: Path) -> None:
    write(tmp_path, "functions.py", FUNCTIONS)
    write(tmp_path, "t.csv", TEXTS)
    load_spec(write(tmp_path, "ok.yaml", TEXT_SPEC))  # no TensorFlow needed: the plugin is read, not run
    bad = TEXT_SPEC.replace("standardize: strip_html", "standardize: strip_htm").replace("activation: half_relu", "activation: half_rel")
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, "bad.yaml", bad))
    text = err.value.render()
    assert "model.layers[0].standardize: unknown standardize 'strip_htm'" in text and "did you mean 'strip_html'?" in text
    assert "model.layers[1].activation: unknown activation 'half_rel'" in text and "did you mean 'half_relu'?" in text
    # a function is not a layer class
    with pytest.raises(SpecError, match="unknown layer type 'half_relu'"):
        load_spec(write(tmp_path, "f.yaml", TEXT_SPEC.replace("{type: Dense, units: 1}", "{type: half_relu}")))


# -- 6. a list of inputs passes tensors positionally when call takes several ----------------

MHA_SPEC = """
name: mha
seed: 3
model:
  inputs: {x: [6, 8]}
  layers:
    - {name: att, type: MultiHeadAttention, num_heads: 2, key_dim: 4, inputs: [x, x]}
    - {name: sum, type: Add, inputs: [x, att]}
    - {type: GlobalAveragePooling1D}
    - {type: Dense, units: 1}
compile: {optimizer: adam, loss: mse}
"""


def test_multi_head_attention_takes_a_list_positionally(tmp_path: Path) -> None:
    model = build_model(load_spec(write(tmp_path, "s.yaml", MHA_SPEC))).model
    x = keras.Input((6, 8))
    att = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    y = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(keras.layers.Add()([x, att])))
    assert model.count_params() == keras.Model(x, y).count_params()


@pytest.mark.parametrize("inputs, expected", [
    ("x", "MultiHeadAttention takes 2 tensors, query, value (then key): write inputs: [<query>, <value>] (in that order) or inputs: {query: <query>, value: <value>}"),
    ("[x, x, x, x]", "4 inputs given; MultiHeadAttention takes 2 tensors"),
    ("{query: x}", "MultiHeadAttention.call has the argument 'value' is missing; MultiHeadAttention takes 2 tensors"),
])
def test_the_wrong_form_says_which_to_write(tmp_path: Path, inputs: str, expected: str) -> None:
    with pytest.raises(BuildError) as err:
        build_model(load_spec(write(tmp_path, "s.yaml", MHA_SPEC.replace("inputs: [x, x]}", f"inputs: {inputs}}}"))))
    assert expected in err.value.render()
    assert err.value.location.line == 7


# -- 10. TensorFlow's runtime errors keep their cause; kerun's own bugs keep their traceback --

EMB_SPEC = """
name: emb
seed: 4
data: {train: {type: csv, path: ids.csv, label: y}}
model:
  inputs: {ids: {shape: [1], dtype: int32}}
  layers:
    - {name: lookup_table, type: Embedding, input_dim: 5, output_dim: 2}
    - {type: Flatten}
    - {type: Dense, units: 1}
compile: {optimizer: adam, loss: mse}
train: {epochs: 1, batch_size: 4}
"""
IDS = "ids,y\n" + "".join(f"{i * 7},{i % 2}\n" for i in range(8))


def test_a_runtime_error_in_fit_names_its_cause_and_entry(tmp_path: Path) -> None:
    with pytest.raises(RunError) as err:
        run(tmp_path, EMB_SPEC, **{"ids.csv": IDS})
    text = err.value.render()
    assert "not in [0, 5)" in text  # the cause, from the end of TensorFlow's message
    assert "model.layers[0]" in text and "lookup_table" in text  # the entry the op belongs to
    assert err.value.location.line == 8
    assert err.value.__cause__ is not None and type(err.value.__cause__).__module__.startswith("tensorflow")
    manifest = json.loads(next((tmp_path / "runs").glob("*/*/manifest.json")).read_text())
    assert "not in [0, 5)" in manifest["error"] and "lookup_table" in manifest["error"]


def test_a_bug_in_kerun_during_fit_keeps_its_traceback(tmp_path: Path, monkeypatch) -> None:
    from kerun.run import callbacks

    def broken(self, epoch, logs=None):
        raise ValueError("a bug in kerun's own callback")

    monkeypatch.setattr(callbacks.NanGuard, "on_epoch_end", broken)
    with pytest.raises(ValueError, match="a bug in kerun's own callback") as err:
        run(tmp_path, EMB_SPEC, **{"ids.csv": "ids,y\n" + "".join(f"{i % 5},{i % 2}\n" for i in range(8))})
    assert not isinstance(err.value, KerunError)
    assert any(f.name == "broken" for f in __import__("traceback").extract_tb(err.value.__traceback__))
    # saved to the run folder, and one line after the traceback on screen says whose bug it is
    run_dir = next((tmp_path / "runs").glob("*/*/manifest.json")).parent
    saved = (run_dir / "traceback.txt").read_text()
    assert "in broken" in saved and "ValueError: a bug in kerun's own callback" in saved
    assert any(n.startswith("kerun: internal error") and str(run_dir / "traceback.txt") in n for n in err.value.__notes__)
    assert json.loads((run_dir / "manifest.json").read_text())["error"].startswith("internal error: ValueError")


# -- 11. Keras's own unpublished layers need no plugin ---------------------------------------

SCALE_SPEC = """
name: scale
seed: 5
model:
  inputs: {x: [4, 8]}
  layers:
    - {type: Dense, units: 8}
    - {name: scale, type: LayerScale, init_values: 0.000001, projection_dim: 8}
    - {type: StochasticDepth, drop_path_rate: 0.1}
    - {type: GlobalAveragePooling1D}
    - {type: Dense, units: 1}
compile: {optimizer: adam, loss: mse}
"""


def test_the_table_of_keras_internal_layers_matches_keras() -> None:
    import importlib
    import inspect

    from kerun.spec.keras_internal import INTERNAL_LAYERS

    for name, (module, required) in INTERNAL_LAYERS.items():
        cls = getattr(importlib.import_module(module), name)
        params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
        assert tuple(p.name for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD) == required


def test_keras_application_layers_build_and_import_without_a_plugin(tmp_path: Path) -> None:
    from keras.src.applications.convnext import LayerScale

    from kerun.interop.importer import import_model

    model = build_model(load_spec(write(tmp_path, "s.yaml", SCALE_SPEC))).model
    assert type(model.get_layer("scale")) is LayerScale
    assert model.count_params() == 8 * 8 + 8 + 8 + 8 + 1
    model.save(tmp_path / "m.keras")
    assert type(keras.models.load_model(tmp_path / "m.keras", safe_mode=True).get_layer("scale")) is LayerScale
    result = import_model(tmp_path / "m.keras", tmp_path / "imported.yaml")
    text = (tmp_path / "imported.yaml").read_text()
    assert "type: LayerScale" in text and "plugins" not in text
    assert build_model(load_spec(tmp_path / "imported.yaml")).model.count_params() == model.count_params()
    with pytest.raises(SpecError, match="LayerScale needs the argument 'projection_dim'"):
        load_spec(write(tmp_path, "bad.yaml", SCALE_SPEC.replace(", projection_dim: 8", "")))
