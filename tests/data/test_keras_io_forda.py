"""keras.io "Timeseries classification from scratch" from a header-less CSV (specs/keras_io/forda.yaml),
against the tutorial's own Keras code: the same data read (np.loadtxt, labels -1 -> 0), the same
parameter count; the spec trained an epoch, evaluated and predicted from its run."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from kerun_testing import SPECS
from kerun.data import load_datasets
from kerun.run.train import TrainOptions, train_file

from datahelpers import collect

SPEC = SPECS / "keras_io" / "forda.yaml"
DATA = SPECS / "keras_io" / "data"


def forda_rows(n: int, seed: int, length: int = 100) -> str:
    """The generated stand-in for FordA: label -1/1 first, then a z-normalised noisy sine whose
    frequency depends on the class; tab-separated, no header row."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)
    out = []
    for i in range(n):
        label = 1 if i % 2 else -1
        freq = 3.0 if label == 1 else 5.0
        series = np.sin(2 * np.pi * (freq * t + rng.uniform())) + rng.normal(0, 0.3, length)
        series = (series - series.mean()) / series.std()  # z-normalised, as FordA's series are
        out.append("\t".join([str(label)] + [f"{v:.4f}" for v in series]))
    return "\n".join(out) + "\n"


def readucr(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's reader."""
    data = np.loadtxt(path, delimiter="\t")
    y, x = data[:, 0], data[:, 1:]
    return x.reshape((x.shape[0], x.shape[1], 1)), y.astype(int)


def keras_twin(input_shape: tuple[int, int], num_classes: int):
    """make_model() of the tutorial (filters 64, kernel 3), written by hand."""
    import keras

    input_layer = keras.layers.Input(input_shape)
    x = input_layer
    for _ in range(3):
        x = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.models.Model(inputs=input_layer, outputs=keras.layers.Dense(num_classes, activation="softmax")(x))


def test_the_shipped_files_are_the_generated_ones() -> None:
    assert (DATA / "forda_train.tsv").read_text() == forda_rows(64, 0)
    assert (DATA / "forda_test.tsv").read_text() == forda_rows(32, 1)


@pytest.fixture(scope="module")
def forda_run(tmp_path_factory: pytest.TempPathFactory):
    return train_file(SPEC, [], TrainOptions(runs_dir=tmp_path_factory.mktemp("forda") / "runs", progress="quiet"))


def test_forda_spec_matches_the_tutorial(forda_run) -> None:
    from kerun.model.model import build_model
    from kerun.spec import load_spec

    x_test, y_test = readucr(DATA / "forda_test.tsv")
    y_test[y_test == -1] = 0
    assert forda_run.status == "completed" and forda_run.epochs == 1
    twin = keras_twin(x_test.shape[1:], len(np.unique(y_test)))
    assert forda_run.built.model.count_params() == twin.count_params() == 25_858
    # the same examples as the tutorial's reader, the first row included (no header row)
    loaded = load_spec(SPEC)
    x, y = collect(load_datasets(loaded, build_model(loaded)).test)
    np.testing.assert_allclose(x, x_test, atol=1e-6)
    assert y.tolist() == y_test.tolist()
    assert set(forda_run.metrics) == {"train", "validation", "test"}
    assert 0 <= forda_run.metrics["test"]["sparse_categorical_accuracy"] <= 1


def test_forda_run_evaluates_and_predicts(forda_run, tmp_path: Path) -> None:
    import keras

    from kerun.run.evaluate import evaluate_run
    from kerun.run.predict import predict_run

    result = evaluate_run(Path(forda_run.run_dir))
    assert result["split"] == "test" and result["examples"] == 32
    assert sum(map(sum, result["confusion_matrix"]["matrix"])) == 32
    assert result["metrics"]["sparse_categorical_accuracy"] == pytest.approx(forda_run.metrics["test"]["sparse_categorical_accuracy"], abs=1e-6)
    # the header-less test file as it is: read with the training source's delimiter, header and label
    out = tmp_path / "p.csv"
    got = predict_run(Path(forda_run.run_dir), DATA / "forda_test.tsv", out)
    assert got["rows"] == 32
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    x_test, _ = readucr(DATA / "forda_test.tsv")
    expected = keras.models.load_model(Path(forda_run.run_dir) / "model.keras").predict(x_test, verbose=0)
    np.testing.assert_allclose([[float(r["output_0"]), float(r["output_1"])] for r in rows], expected, rtol=1e-4, atol=1e-6)
