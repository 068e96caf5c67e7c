"""``train.class_weight: balanced``: scikit-learn's weights, from the training split only, recorded
in the run folder's manifest and used by fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datahelpers import make_spec, mlp3, write_csv
from kerun.data import load_datasets
from kerun.errors import DataError, SpecError

sklearn_weights = pytest.importorskip("sklearn.utils.class_weight").compute_class_weight


@pytest.fixture
def skewed_csv(tmp_path: Path) -> Path:
    """90 rows of class 0, 25 of class 1, 5 of class 2."""
    rng = np.random.default_rng(0)
    labels = [0] * 90 + [1] * 25 + [2] * 5
    rows = [[y, *np.round(rng.normal(size=3), 3)] for y in labels]
    return write_csv(tmp_path / "skewed.csv", ["label", "a", "b", "c"], rows)


SPEC = """
data:
  train: {type: csv, path: skewed.csv, label: label}
  validation: {split: 0.25}
""" + mlp3().replace("shuffle: false}", "shuffle: false, class_weight: balanced}")


def test_balanced_weights_are_scikit_learns_on_the_training_split(tmp_path: Path, skewed_csv: Path) -> None:
    loaded, built = make_spec(tmp_path, SPEC)
    data = load_datasets(loaded, built)
    y_train = np.concatenate([y for _, y in data.train.as_numpy_iterator()]).reshape(-1)
    assert len(y_train) == 90 and data.sizes["validation"] == 30  # the hold-out is not counted
    want = sklearn_weights("balanced", classes=np.unique(y_train), y=y_train)
    assert list(data.class_weight) == [0, 1, 2]
    np.testing.assert_allclose(list(data.class_weight.values()), want, rtol=1e-12)
    everything = np.array([0] * 90 + [1] * 25 + [2] * 5)
    assert not np.allclose(want, sklearn_weights("balanced", classes=np.arange(3), y=everything))  # the split matters


def test_balanced_weights_are_recorded_and_used_by_fit(tmp_path: Path, skewed_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from kerun.run.options import TrainOptions
    from kerun.run.train import train_file

    given: list = []
    fit = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", lambda self, *a, **kw: given.append(kw.get("class_weight")) or fit(self, *a, **kw))
    spec = tmp_path / "skewed.yaml"
    spec.write_text(SPEC)
    result = train_file(spec, options=TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert result.status == "completed"
    assert given == [result.datasets.class_weight] and set(given[0]) == {0, 1, 2}
    recorded = json.loads((result.run_dir / "manifest.json").read_text())["class_weight"]
    assert {int(k): v for k, v in recorded.items()} == pytest.approx(result.datasets.class_weight)
    assert recorded["2"] > recorded["1"] > recorded["0"]


def test_balanced_needs_class_labels(tmp_path: Path, skewed_csv: Path) -> None:
    text = SPEC.replace(
        "{type: Dense, units: 3, activation: softmax}", "{type: Dense, units: 1}").replace("sparse_categorical_crossentropy", "mse")
    text = text.replace("label: label}", "label: a}")
    loaded, built = make_spec(tmp_path, text)
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "class_weight: balanced needs one class label per example" in str(err.value)
    assert "spec.yaml:" in str(err.value) and "train.class_weight" in str(err.value)


def test_an_unknown_class_weight_word_is_refused_at_validate(tmp_path: Path, skewed_csv: Path) -> None:
    with pytest.raises(SpecError) as err:
        make_spec(tmp_path, SPEC.replace("balanced", "balance"))
    assert "train.class_weight" in str(err.value) and "balanced" in str(err.value)
