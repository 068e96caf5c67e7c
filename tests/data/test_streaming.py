"""Large CSV / Parquet files are streamed in chunks; forced here with a tiny threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kerun.data as kd
import kerun.data.csv as kcsv
import kerun.data.parquet as kpq
from kerun.data import load_datasets
from kerun.data._common import TableStream

from datahelpers import collect, make_spec, write_csv

MODEL = """
model: {inputs: {x: [2]}, layers: [{type: Dense, units: 3, activation: softmax}]}
train: {batch_size: 32, shuffle: false}
"""


@pytest.fixture
def big_csv(tmp_path):
    # ints in the first block, floats later: column types must stay consistent across blocks
    rows = [[i % 3, i, (i if i < 500 else i + 0.5)] for i in range(2000)]
    return write_csv(tmp_path / "big.csv", ["label", "id", "v"], rows)


def _stream_everything(monkeypatch):
    monkeypatch.setattr(kd, "STREAM_THRESHOLD", 0)
    monkeypatch.setattr(kcsv, "BLOCK_SIZE", 4096)   # many small blocks
    monkeypatch.setattr(kpq, "BATCH_ROWS", 300)


def test_streaming_csv_yields_the_same_examples(tmp_path, big_csv, monkeypatch):
    spec = "data: {train: {type: csv, path: big.csv, label: label}}" + MODEL
    loaded, built = make_spec(tmp_path, spec)
    x_mem, y_mem = collect(load_datasets(loaded, built).train)
    _stream_everything(monkeypatch)
    chunks = []
    real = kd.read_source

    def spy(*a, **k):
        got, names = real(*a, **k)
        chunks.append(got)
        return got, names

    monkeypatch.setattr(kd, "read_source", spy)
    ds = load_datasets(loaded, built)
    assert isinstance(chunks[0], TableStream)
    assert ds.sizes == {"train": None}
    x_st, y_st = collect(ds.train)
    np.testing.assert_array_equal(x_mem, x_st)
    np.testing.assert_array_equal(y_mem, y_st)
    assert len(list(chunks[0].chunks(None))) > 3  # really read in several blocks


def test_stream_key_and_limit(tmp_path, big_csv):
    loaded, built = make_spec(tmp_path, "data: {train: {type: csv, path: big.csv, label: label, stream: true, limit: 777}}" + MODEL)
    x, y = collect(load_datasets(loaded, built).train)
    assert len(x) == 777 and x[776, 0] == 776


def test_streamed_splits_are_disjoint_stable_and_seeded(tmp_path, big_csv, monkeypatch):
    _stream_everything(monkeypatch)
    spec = "seed: 9\ndata: {train: {type: csv, path: big.csv, label: label}, validation: {split: 0.2}, test: {split: 0.1}}" + MODEL.replace("shuffle: false", "shuffle: true")
    loaded, built = make_spec(tmp_path, spec)
    ds = load_datasets(loaded, built)
    ids = {k: collect(getattr(ds, k))[0][:, 0].astype(int) for k in ("train", "validation", "test")}
    assert sorted(np.concatenate(list(ids.values()))) == list(range(2000))
    assert 300 < len(ids["validation"]) < 500 and 130 < len(ids["test"]) < 270
    again = collect(ds.validation)[0][:, 0].astype(int)
    np.testing.assert_array_equal(ids["validation"], again)  # stable across epochs
    assert not np.array_equal(collect(ds.train)[0][:, 0], collect(ds.train)[0][:, 0])  # bounded shuffle reshuffles
    loaded2, built2 = make_spec(tmp_path, spec.replace("seed: 9", "seed: 10"))
    other = collect(load_datasets(loaded2, built2).validation)[0][:, 0].astype(int)
    assert set(other) != set(ids["validation"])
    xs = collect(ds.adapt())
    assert sorted(xs[:, 0].astype(int)) == sorted(ids["train"])


def test_streaming_parquet_matches_memory(tmp_path, big_csv, monkeypatch):
    pd.read_csv(big_csv).to_parquet(tmp_path / "big.parquet")
    loaded, built = make_spec(tmp_path, "data: {train: {type: parquet, path: big.parquet, label: label}}" + MODEL)
    x_mem, y_mem = collect(load_datasets(loaded, built).train)
    _stream_everything(monkeypatch)
    x_st, y_st = collect(load_datasets(loaded, built).train)
    np.testing.assert_array_equal(x_mem, x_st)
    np.testing.assert_array_equal(y_mem, y_st)
