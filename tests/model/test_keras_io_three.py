"""keras.io translations of issue 23 that need data kerun once left to Python (windows of a time
series, class_weight: balanced), each beside its hand-written twin: the same parameter count,
trained an epoch in-process on the small generated CSV files of specs/keras_io/data/, evaluated and
predicted from its folder; the twin given the run's weights predicts what the run predicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from kerun_testing import SPECS, trained_on_demand

keras = pytest.importorskip("keras")
L = keras.layers

FOLDER = SPECS / "keras_io"


def _weather() -> Any:
    """keras.io "Timeseries forecasting for weather prediction", as written there (12 steps of 7 features)."""
    inputs = keras.layers.Input(shape=(12, 7))
    lstm_out = keras.layers.LSTM(32)(inputs)
    outputs = keras.layers.Dense(1)(lstm_out)
    return keras.Model(inputs=inputs, outputs=outputs)


def _fraud() -> Any:
    """keras.io "Imbalanced classification: credit card fraud detection", as written there (10 features)."""
    return keras.Sequential([
        keras.Input(shape=(10,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


TWINS: dict[str, Callable[[], Any]] = {"weather": _weather, "fraud": _fraud}
HISTORY: dict[str, set[str]] = {"weather": {"loss", "val_loss"},
                                "fraud": {"loss", "val_loss", "Precision", "Recall", "val_TruePositives", "FalseNegatives"}}

WEATHER_MEAN = np.array([991.694, 6.758, 10.636, 2.992, 4.79, 1234.803, 2.049])
WEATHER_SCALE = np.array([0.22994, 0.16139, 0.23159, 0.44504, 0.64226, 0.03961, 0.82305])
FRAUD_OFFSET = np.array([0.056, -0.0067, 0.0358, -0.0682, 0.014, 0.0049, 0.0989, 0.0328, 0.0339, -66.3815])
FRAUD_SCALE = np.array([0.94597, 0.9778, 0.96923, 0.94774, 1.00135, 1.00857, 0.97991, 0.96527, 0.98071, 0.00958])
FRAUD_COLUMNS = ["V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "Amount"]

RAW: dict[str, Callable[[np.ndarray], dict[str, np.ndarray]]] = {
    "weather": lambda x: {"window": (x / WEATHER_SCALE + WEATHER_MEAN).astype(np.float32)},  # windows of readings
    "fraud": lambda x: {c: v for c, v in zip(FRAUD_COLUMNS, (x / FRAUD_SCALE - FRAUD_OFFSET).astype(np.float32).T)},
}
"""A prediction file with the raw values that became the model's (standardised) inputs ``x``."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from trained_on_demand(FOLDER, tmp_path_factory.mktemp("keras_io_three"))


@pytest.mark.parametrize("name", sorted(TWINS))
def test_translation_matches_its_keras_twin(runs: Any, name: str, tmp_path: Path) -> None:
    from kerun.run.evaluate import evaluate_run
    from kerun.run.predict import predict_run

    result = runs(name)
    assert result.status == "completed" and result.epochs == 1
    twin = TWINS[name]()
    assert result.built.model.count_params() == twin.count_params()
    rows = json.loads((result.run_dir / "history.json").read_text())
    assert HISTORY[name] <= set(rows[0]) and all(np.isfinite(rows[0][k]) for k in HISTORY[name])
    report = evaluate_run(result.run_dir, split="validation")
    assert report["examples"] and np.isfinite(list(report["metrics"].values())).all()
    x = np.concatenate(list(result.datasets.adapt().as_numpy_iterator()))[:5]  # standardised, as the model sees them
    np.savez(tmp_path / "new.npz", **RAW[name](x))  # the values as a user has them: predict standardises them again
    predicted = predict_run(result.run_dir, tmp_path / "new.npz", tmp_path / "out.npz")
    assert predicted["rows"] == 5
    with np.load(tmp_path / "out.npz") as out:
        got = next(iter(out.values()))
    twin.set_weights(result.built.model.get_weights())
    np.testing.assert_allclose(got, twin.predict(x, verbose=0), atol=1e-5)


def test_weather_windows_are_the_examples_windows_of_the_standardised_table(runs: Any) -> None:
    """The example's own pipeline (keras.utils.timeseries_dataset_from_array over the standardised
    features, the target `past + future` rows after each window's start) gives the run's windows."""
    result = runs("weather")
    table = np.loadtxt(FOLDER / "data" / "weather.csv", delimiter=",", skiprows=1, dtype=np.float32)
    features = ((table - WEATHER_MEAN) * WEATHER_SCALE).astype(np.float32)
    train_split = len(table) - int(np.ceil(0.2 * len(table))) - int(np.ceil(0.1 * len(table)))
    past, future, step = 24, 6, 2
    x_train, y_train = features[:train_split], features[past + future:train_split, 1]
    ds = keras.utils.timeseries_dataset_from_array(x_train, y_train, sequence_length=past // step, sampling_rate=step,
                                                   batch_size=4096, shuffle=False)
    want_x, want_y = next(iter(ds))
    got_x, got_y = map(np.concatenate, zip(*result.datasets.train.as_numpy_iterator()))
    order = np.lexsort(got_x[:, 0, ::-1].T)  # the training windows are shuffled: compare them sorted
    want_order = np.lexsort(want_x.numpy()[:, 0, ::-1].T)
    np.testing.assert_allclose(got_x[order], want_x.numpy()[want_order], atol=1e-4)
    np.testing.assert_allclose(got_y.reshape(-1)[order], want_y.numpy()[want_order], atol=1e-4)


def test_fraud_class_weights_are_scikit_learns_over_the_training_split_and_recorded(runs: Any) -> None:
    compute = pytest.importorskip("sklearn.utils.class_weight").compute_class_weight
    result = runs("fraud")
    y = np.concatenate([b for _, b in result.datasets.train.as_numpy_iterator()]).reshape(-1).astype(int)
    assert 0.01 <= y.mean() <= 0.02  # the rare class: about 1.5% of the rows
    want = compute("balanced", classes=np.array([0, 1]), y=y)
    recorded = json.loads((result.run_dir / "manifest.json").read_text())["class_weight"]
    np.testing.assert_allclose([recorded["0"], recorded["1"]], want, rtol=1e-12)
