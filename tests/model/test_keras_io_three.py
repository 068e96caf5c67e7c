"""keras.io translations of issue 23 that need data kerun once left to Python (windows of a time
series), each beside its hand-written twin: the same parameter count,
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


TWINS: dict[str, Callable[[], Any]] = {"weather": _weather}
HISTORY: dict[str, set[str]] = {"weather": {"loss", "val_loss"}}

WEATHER_MEAN = np.array([991.694, 6.758, 10.636, 2.992, 4.79, 1234.803, 2.049])
WEATHER_SCALE = np.array([0.22994, 0.16139, 0.23159, 0.44504, 0.64226, 0.03961, 0.82305])
RAW: dict[str, Callable[[np.ndarray], dict[str, np.ndarray]]] = {
    "weather": lambda x: {"window": (x / WEATHER_SCALE + WEATHER_MEAN).astype(np.float32)},  # windows of readings
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
