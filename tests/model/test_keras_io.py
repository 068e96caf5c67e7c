"""The keras.io translations in specs/keras_io/, each beside the same model written by hand in Keras.

For every spec: the run trains one epoch in-process on its small generated data; the hand-written
twin has the same parameter count; every preprocessing layer holds the state Keras's own ``adapt``
gives on the same training inputs (the same vocabulary, the same mean, the same bin boundaries);
the run is then evaluated and predicted from its folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from kerun_testing import SPECS, trained_on_demand

keras = pytest.importorskip("keras")
L = keras.layers

FOLDER = SPECS / "keras_io"


def _structured(x: dict[str, np.ndarray]) -> tuple[keras.Model, dict[str, Any]]:
    thal = keras.Input((1,), dtype="string", name="thal")
    age = keras.Input((1,), name="age")
    sex = keras.Input((1,), dtype="int64", name="sex")
    chol = keras.Input((1,), name="chol")
    lookups = {"thal_encoded": L.StringLookup(output_mode="one_hot"), "age_encoded": L.Normalization(),
               "sex_encoded": L.IntegerLookup(output_mode="one_hot"), "chol_encoded": L.Normalization()}
    for (name, layer), column in zip(lookups.items(), ["thal", "age", "sex", "chol"]):
        layer.adapt(x[column])
    feats = L.Concatenate()([lookups["thal_encoded"](thal), lookups["age_encoded"](age),
                             lookups["sex_encoded"](sex), lookups["chol_encoded"](chol)])
    h = L.Dropout(0.5)(L.Dense(32, activation="relu")(feats))
    return keras.Model([thal, age, sex, chol], L.Dense(1, activation="sigmoid")(h)), lookups


def _text(x: np.ndarray) -> tuple[keras.Model, dict[str, Any]]:
    from keras_io_functions import custom_standardization

    vec = L.TextVectorization(standardize=custom_standardization, max_tokens=200, output_mode="int", output_sequence_length=16)
    vec.adapt(x)
    inputs = keras.Input((), dtype="string")
    h = L.Dropout(0.5)(L.Embedding(200, 16)(vec(inputs)))
    h = L.GlobalMaxPooling1D()(L.Conv1D(16, 3, padding="valid", activation="relu", strides=2)(h))
    out = L.Dense(1, activation="sigmoid")(L.Dense(16, activation="relu")(h))
    return keras.Model(inputs, out), {"vectorize": vec}


def _image(x: Any) -> tuple[keras.Model, dict[str, Any]]:
    inputs = keras.Input((32, 32, 3))
    h = L.Rescaling(1.0 / 255)(L.RandomRotation(0.1)(L.RandomFlip("horizontal")(inputs)))
    stem = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(16, 3, strides=2, padding="same")(h)))
    h = L.Activation("relu")(L.BatchNormalization()(L.SeparableConv2D(32, 3, padding="same")(stem)))
    h = L.MaxPooling2D(3, strides=2, padding="same")(h)
    h = L.Add()([h, L.Conv2D(32, 1, strides=2, padding="same")(stem)])
    out = L.Dense(1)(L.Dropout(0.25)(L.GlobalAveragePooling2D()(h)))
    return keras.Model(inputs, out), {}


def _transformer(x: Any) -> tuple[keras.Model, dict[str, Any]]:
    inputs = keras.Input((12,), dtype="int32")
    emb = L.Embedding(100, 16)(inputs)
    att = L.MultiHeadAttention(num_heads=2, key_dim=16)(emb, emb)
    ln1 = L.LayerNormalization(epsilon=1e-6)(emb + L.Dropout(0.1)(att))
    ffn = L.Dense(16)(L.Dense(32, activation="relu")(ln1))
    h = L.LayerNormalization(epsilon=1e-6)(ln1 + L.Dropout(0.1)(ffn))
    h = L.Dense(20, activation="relu")(L.Dropout(0.1)(L.GlobalAveragePooling1D()(h)))
    return keras.Model(inputs, L.Dense(2, activation="softmax")(h)), {}


def _siamese(x: Any) -> tuple[keras.Model, dict[str, Any]]:
    image = keras.Input((16, 16, 1))
    h = L.AveragePooling2D(2)(L.Conv2D(4, 5, activation="tanh")(L.BatchNormalization()(image)))
    tower = keras.Model(image, L.Dense(10, activation="tanh")(L.BatchNormalization()(L.Flatten()(h))))
    left, right = keras.Input((16, 16, 1)), keras.Input((16, 16, 1))
    diff = L.Subtract()([tower(left), tower(right)])
    out = L.Dense(1, activation="sigmoid")(L.BatchNormalization()(L.Multiply()([diff, diff])))
    return keras.Model([left, right], out), {}


def _custom_loss(x: Any) -> tuple[keras.Model, dict[str, Any]]:
    inputs = keras.Input((16,))
    h = L.Dense(32, activation="relu")(L.Dense(32, activation="relu")(inputs))
    return keras.Model(inputs, L.Dense(1)(h)), {}


def _mnist(x: Any) -> tuple[keras.Model, dict[str, Any]]:
    model = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                              L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)), L.Flatten(),
                              L.Dropout(0.5), L.Dense(10, activation="softmax")])
    return model, {}


def _timeseries(x: Any) -> tuple[keras.Model, dict[str, Any]]:
    inputs = keras.Input((50, 1))
    h = inputs
    for _ in range(3):
        h = L.ReLU()(L.BatchNormalization()(L.Conv1D(16, 3, padding="same")(h)))
    return keras.Model(inputs, L.Dense(2, activation="softmax")(L.GlobalAveragePooling1D()(h))), {}


def _bilstm(x: Any) -> tuple[keras.Model, dict[str, Any]]:
    inputs = keras.Input((None,), dtype="int32")
    h = L.Bidirectional(L.LSTM(8, return_sequences=True))(L.Embedding(500, 16)(inputs))
    return keras.Model(inputs, L.Dense(1, activation="sigmoid")(L.Bidirectional(L.LSTM(8))(h))), {}


def _recipes(x: dict[str, np.ndarray]) -> tuple[keras.Model, dict[str, Any]]:
    price = keras.Input((1,), name="price")
    tags = keras.Input((3,), dtype="int64", name="tags")
    color = keras.Input((1,), dtype="string", name="color")
    layers = {"price_bins": L.Discretization(num_bins=4), "price_norm": L.Normalization(),
              "tags_hot": L.IntegerLookup(output_mode="multi_hot"),
              "color_hot": L.StringLookup(vocabulary=["alpha", "bravo", "charlie"], output_mode="one_hot")}
    layers["price_bins"].adapt(x["price"])
    layers["price_norm"].adapt(x["price"])
    layers["tags_hot"].adapt(x["tags"])
    price_hot = L.CategoryEncoding(num_tokens=4, output_mode="one_hot")(layers["price_bins"](price))
    feats = L.Concatenate()([price_hot, layers["price_norm"](price), layers["tags_hot"](tags),
                             layers["color_hot"](color)])
    out = L.Dense(1, activation="sigmoid")(L.Dense(8, activation="relu")(feats))
    return keras.Model([price, tags, color], out), layers


TWINS: dict[str, Callable[[Any], tuple[keras.Model, dict[str, Any]]]] = {
    "structured_data": _structured,
    "text_from_scratch": _text,
    "image_from_scratch": _image,
    "transformer_text": _transformer,
    "siamese": _siamese,
    "custom_loss_metric": _custom_loss,
    "mnist_convnet": _mnist,
    "timeseries_convnet": _timeseries,
    "bidirectional_lstm": _bilstm,
    "preprocessing_recipes": _recipes,
}


def _collect(ds: Any) -> Any:
    """The batches of an adapt dataset as one array (or a dict of arrays by input name)."""
    batches = [b for b in ds.as_numpy_iterator()]
    if isinstance(batches[0], dict):
        return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    return np.concatenate(batches)


def _state(layer: Any) -> Any:
    if isinstance(layer, (L.StringLookup, L.IntegerLookup, L.TextVectorization)):
        return [str(t) for t in layer.get_vocabulary()]
    # Means to 6 significant digits: adapted batch by batch, float32 sums differ in the last bits.
    if isinstance(layer, L.Normalization):
        return [float(f"{v:.6g}") for v in (*np.ravel(layer.mean), *np.ravel(layer.variance))]
    if isinstance(layer, L.Discretization):
        return [float(f"{v:.6g}") for v in layer.bin_boundaries]
    raise AssertionError(type(layer))


def test_the_folder_holds_every_translation_and_each_has_a_twin() -> None:
    from test_keras_io_three import TWINS as PART_THREE  # the weather and fraud translations
    from test_keras_io_two import TWINS as PART_TWO  # issue 23's translations, twinned there

    assert sorted(p.stem for p in FOLDER.glob("*.yaml") if not p.stem.startswith("forda")) == sorted(
        [*TWINS, *PART_TWO, *PART_THREE])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from trained_on_demand(FOLDER, tmp_path_factory.mktemp("keras_io"))  # the twins import the plugins


@pytest.mark.parametrize("name", sorted(TWINS))
def test_translation_matches_its_keras_twin(runs: Any, name: str, tmp_path: Path) -> None:
    from kerun.run.evaluate import evaluate_run
    from kerun.run.predict import predict_run

    result = runs(name)
    assert result.status == "completed" and result.epochs == 1
    built = result.built
    x = _collect(result.datasets.adapt())
    twin, adapted = TWINS[name](x)
    assert built.model.count_params() == twin.count_params()
    for entry, twin_layer in adapted.items():
        assert _state(built.model.get_layer(entry)) == _state(twin_layer), entry
    assert {type(layer).__name__ for layer in built.adapted} >= {type(t).__name__ for t in adapted.values()
                                                                 if not getattr(t, "_has_input_vocabulary", False)}

    report = evaluate_run(result.run_dir, split="validation")
    assert report["examples"] and np.isfinite(list(report["metrics"].values())).all()
    rows = x if isinstance(x, dict) else {built.input_names[0]: x}
    np.savez(tmp_path / "new.npz", **{k: (v[:5].astype(str) if v.dtype == object else v[:5]) for k, v in rows.items()})
    predicted = predict_run(result.run_dir, tmp_path / "new.npz", tmp_path / "out.npz")
    assert predicted["rows"] == 5
