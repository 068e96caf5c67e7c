"""CSV files without a header row (``header: false``): columns numbered from 0 or named by ``names:``."""

from __future__ import annotations

import numpy as np
import pytest

import kerun.data.sources as ks
from kerun.data import load_datasets
from kerun.errors import DataError, SpecError

from datahelpers import collect, make_spec

ROWS = [[-1 if i % 2 else 1, i, 10 * i, i / 4] for i in range(30)]  # label first, as in FordA's files

NUMBERED = """
data:
  train: {type: csv, path: f.tsv, delimiter: "\\t", header: false, label: 0}
  targets: {offset: 1, scale: 0.5, dtype: int32}   # -1/1 -> class ids 0/1
model: {inputs: {x: [3]}, layers: [{type: Dense, units: 2, activation: softmax}]}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
train: {batch_size: 8, shuffle: false}
"""


def _write(tmp_path, rows=ROWS, name="f.tsv"):
    (tmp_path / name).write_text("".join("\t".join(str(v) for v in r) + "\n" for r in rows))


@pytest.mark.parametrize("streaming", [False, True])
def test_numbered_columns_and_the_first_row_is_data(tmp_path, monkeypatch, streaming):
    _write(tmp_path)
    if streaming:
        monkeypatch.setattr(ks, "STREAM_THRESHOLD", 0)
    loaded, built = make_spec(tmp_path, NUMBERED)
    assert loaded.spec.data.train.label == "0"  # label: 0 names the first column
    data = load_datasets(loaded, built)
    x, y = collect(data.train)
    assert len(x) == 30  # the first row is an example, not a header
    np.testing.assert_allclose(x, np.array([r[1:] for r in ROWS], dtype=np.float32))
    assert y.tolist() == [0 if i % 2 else 1 for i in range(30)]


def test_names_name_the_columns(tmp_path):
    _write(tmp_path)
    loaded, built = make_spec(tmp_path, NUMBERED.replace("header: false, label: 0", "header: false, names: [y, a, b, c], label: y"))
    x, _ = collect(load_datasets(loaded, built).train)
    np.testing.assert_allclose(x[:2], [[0, 0, 0], [1, 10, 0.25]])
    loaded, built = make_spec(tmp_path, NUMBERED.replace("header: false, label: 0", "header: false, names: [y, b], label: y")
                              .replace("inputs: {x: [3]}", "inputs: {x: [1]}"))
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "'names' gives 2 columns, but the first row of" in err.value.message and "has 4 fields" in err.value.message
    assert err.value.location.line == 3 and err.value.problems[0].path == ("data", "train", "names")


def test_names_without_header_false_is_a_spec_error(tmp_path):
    _write(tmp_path)
    with pytest.raises(SpecError) as err:
        make_spec(tmp_path, NUMBERED.replace("header: false, label: 0", "names: [y, a, b, c], label: y"))
    assert "add header: false" in err.value.render()


@pytest.mark.parametrize("streaming", [False, True])
def test_a_ragged_row_is_measured_against_the_first_row(tmp_path, monkeypatch, streaming):
    rows = [list(r) for r in ROWS]
    rows[11].append(7)
    _write(tmp_path, rows)
    if streaming:
        monkeypatch.setattr(ks, "STREAM_THRESHOLD", 0)
    loaded, built = make_spec(tmp_path, NUMBERED)
    with pytest.raises(DataError) as err:
        collect(load_datasets(loaded, built).train)
    assert "row at line 12 has 5 fields, the first row has 4" in err.value.message
