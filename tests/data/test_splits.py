"""Seeded hold-out splits of the training source, and held-out sources."""

from __future__ import annotations

import numpy as np
import pytest

from kerun.data import load_datasets
from kerun.errors import DataError

from datahelpers import collect, make_spec, mlp3, write_csv

SPEC = """
seed: SEED
data:
  train: {type: csv, path: rows.csv, label: label}
  validation: {split: 0.2}
  test: {split: 0.1}
model: {inputs: {x: [1]}, layers: [{type: Dense, units: 3, activation: softmax}]}
train: {batch_size: 16}
"""


@pytest.fixture
def rows_csv(tmp_path):
    return write_csv(tmp_path / "rows.csv", ["label", "id"], [[i % 3, i] for i in range(100)])


def _ids(ds):
    x, _ = collect(ds)
    return x[:, 0].astype(int)


def test_split_sizes_disjoint_and_complete(tmp_path, rows_csv):
    loaded, built = make_spec(tmp_path, SPEC.replace("SEED", "5"))
    ds = load_datasets(loaded, built)
    assert ds.sizes == {"train": 70, "validation": 20, "test": 10}
    tr, va, te = _ids(ds.train), _ids(ds.validation), _ids(ds.test)
    assert len(tr) == 70 and len(va) == 20 and len(te) == 10
    assert sorted(np.concatenate([tr, va, te])) == list(range(100))


def test_splits_repeat_with_the_seed_and_change_without(tmp_path, rows_csv):
    loaded, built = make_spec(tmp_path, SPEC.replace("SEED", "5"))
    a = load_datasets(loaded, built)
    b = load_datasets(loaded, built)
    np.testing.assert_array_equal(_ids(a.validation), _ids(b.validation))
    np.testing.assert_array_equal(_ids(a.test), _ids(b.test))
    # the same seed shuffles training batches in the same order
    np.testing.assert_array_equal(_ids(a.train), _ids(b.train))
    # each epoch reshuffles
    assert not np.array_equal(_ids(a.train), _ids(a.train))
    loaded2, built2 = make_spec(tmp_path, SPEC.replace("SEED", "6"))
    c = load_datasets(loaded2, built2)
    assert set(_ids(a.validation)) != set(_ids(c.validation))


def test_shuffle_seed_argument(tmp_path, rows_csv):
    loaded, built = make_spec(tmp_path, SPEC.replace("SEED", "5"))
    a = load_datasets(loaded, built, shuffle_seed=1)
    b = load_datasets(loaded, built, shuffle_seed=2)
    np.testing.assert_array_equal(np.sort(_ids(a.train)), np.sort(_ids(b.train)))
    assert not np.array_equal(_ids(a.train), _ids(b.train))


def test_no_shuffle_keeps_file_order(tmp_path, rows_csv):
    loaded, built = make_spec(tmp_path, SPEC.replace("SEED", "5").replace("batch_size: 16}", "batch_size: 16, shuffle: false}"))
    ids = _ids(load_datasets(loaded, built).train)
    assert list(ids) == sorted(ids)


def test_splits_must_leave_training_data(tmp_path):
    write_csv(tmp_path / "rows.csv", ["label", "id"], [[0, 0], [1, 1]])
    loaded, built = make_spec(tmp_path, SPEC.replace("SEED", "1").replace("0.1", "0.3"))
    with pytest.raises(DataError, match="none are left to train on"):
        load_datasets(loaded, built)


def test_held_out_source(tmp_path, rows_csv):
    write_csv(tmp_path / "val.csv", ["label", "id"], [[1, 1000 + i] for i in range(7)])
    loaded, built = make_spec(tmp_path, SPEC.replace("SEED", "1").replace("{split: 0.2}", "{type: csv, path: val.csv, label: label}"))
    ds = load_datasets(loaded, built)
    assert ds.sizes == {"train": 90, "validation": 7, "test": 10}
    assert list(_ids(ds.validation)) == list(range(1000, 1007))


def test_class_label_splits_are_stratified() -> None:
    import numpy as np

    from kerun.data.pipeline import split_indices

    labels = np.repeat([0, 1, 2], 50)
    parts = split_indices(150, {"test": 0.2, "validation": 0.2}, 0, labels=labels)
    assert [len(parts[k]) for k in ("test", "validation", "train")] == [30, 30, 90]
    for name in ("test", "validation"):
        assert np.bincount(labels[parts[name]]).tolist() == [10, 10, 10]
    everything = np.concatenate(list(parts.values()))
    assert sorted(everything.tolist()) == list(range(150))  # disjoint and complete
    # without labels the same sizes, by a plain permutation
    plain = split_indices(150, {"test": 0.2, "validation": 0.2}, 0)
    assert [len(plain[k]) for k in ("test", "validation", "train")] == [30, 30, 90]
