"""Large CSV / Parquet files are streamed in chunks; forced here with a tiny threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kerun.data.datasets as kds
import kerun.data.sources as kd
import kerun.data.csv as kcsv
import kerun.data.parquet as kpq
from kerun.data import load_datasets
from kerun.data._common import SourceContext, TableStream
from kerun.errors import DataError

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

    monkeypatch.setattr(kds, "read_source", spy)
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


def test_blocks_cover_the_file_and_never_cut_a_quoted_field(tmp_path, monkeypatch):
    """Quoted fields holding newlines and delimiters, blank lines, CRLF and no final newline: the
    blocks are whole records, together exactly the file after the header, and streaming reads the
    same rows as reading the file whole."""
    rows = []
    for i in range(400):
        note = f'"line one\nline, two of {i}"' if i % 7 == 0 else f"plain {i}"
        rows.append(f"{i % 3},{i},{note}")
    text = "label,v,note\r\n" + "\r\n".join(rows[:200]) + "\r\n\r\n\n" + "\n".join(rows[200:])  # no final newline
    path = tmp_path / "q.csv"
    path.write_bytes(text.encode())
    start = kcsv._header_end(path)
    assert text.encode()[:start] == b"label,v,note\r\n"
    blocks = list(kcsv.csv_blocks(path, start, 64))
    assert len(blocks) > 50
    assert b"".join(b for b, _, _ in blocks) == text.encode()[start:]
    offset = start
    for block, _, first_line in blocks:
        assert block.count(b'"') % 2 == 0  # never inside a quoted field
        assert first_line == text.encode().count(b"\n", 0, offset) + 1
        offset += len(block)
    # first_row counts records (blank lines skipped, as pandas does), first_line counts lines
    assert [r for _, r, _ in blocks] == sorted(r for _, r, _ in blocks)
    assert blocks[-1][1] < 400 and blocks[-1][1] + kcsv.count_records(blocks[-1][0] + b"\n", kcsv.record_ends(blocks[-1][0] + b"\n")) == 400
    spec = ("data: {train: {type: csv, path: q.csv, label: label}, inputs: {x: {columns: [v]}}}\n"
            "model: {inputs: {x: [1]}, layers: [{type: Dense, units: 3, activation: softmax}]}\n"
            "train: {batch_size: 32, shuffle: false}\n")
    loaded, built = make_spec(tmp_path, spec)
    x_mem, y_mem = collect(load_datasets(loaded, built).train)
    monkeypatch.setattr(kd, "STREAM_THRESHOLD", 0)
    monkeypatch.setattr(kcsv, "BLOCK_SIZE", 64)
    x_st, y_st = collect(load_datasets(loaded, built).train)
    np.testing.assert_array_equal(x_mem, x_st)
    np.testing.assert_array_equal(y_mem, y_st)
    assert len(x_st) == 400


def test_error_lines_count_from_the_file_start_in_any_block(tmp_path, monkeypatch):
    lines = ["label,a,b"] + [f"{i % 3},{i},{i}" for i in range(3000)]
    lines[2800] = "1,2,3,4"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(kcsv, "BLOCK_SIZE", 1000)
    loaded, built = make_spec(tmp_path, "data: {train: {type: csv, path: bad.csv, label: label, stream: true}}" + MODEL)
    stream, _ = kd.read_source(SourceContext(loaded, ("data", "train"), loaded.spec.data.train))
    with pytest.raises(DataError, match="line 2801 has 4 fields"):
        list(stream.chunks(None))


def _train_order(tmp_path, spec):
    loaded, built = make_spec(tmp_path, spec)
    train = load_datasets(loaded, built).train
    return [collect(train)[0][:, 0].astype(int) for _ in range(2)]


def test_streamed_shuffle_is_seeded_per_epoch_within_blocks(tmp_path, big_csv, monkeypatch):
    _stream_everything(monkeypatch)
    spec = "seed: 3\ndata: {train: {type: csv, path: big.csv, label: label}}" + MODEL.replace("shuffle: false", "shuffle: true")
    first, second = _train_order(tmp_path, spec)
    assert sorted(first) == list(range(2000)) and sorted(second) == list(range(2000))
    assert list(first) != list(range(2000)) and list(first) != list(second)  # shuffled, and anew each epoch
    again = _train_order(tmp_path, spec)
    np.testing.assert_array_equal(first, again[0])  # the same seed gives the same order
    np.testing.assert_array_equal(second, again[1])
    # within blocks: rows move, but no further than the block they were read in
    bounds = np.cumsum([0] + [kcsv.count_records(b, kcsv.record_ends(b)) for b, _, _ in kcsv.csv_blocks(big_csv, kcsv._header_end(big_csv), 4096)])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        assert sorted(first[lo:hi]) == list(range(lo, hi))


@pytest.mark.parametrize("extra", ["shuffle_buffer: 100", "cache: true"])
def test_streamed_shuffle_buffer_and_cache_keep_every_row(tmp_path, big_csv, monkeypatch, extra):
    _stream_everything(monkeypatch)
    spec = f"seed: 3\ndata: {{train: {{type: csv, path: big.csv, label: label}}, {extra}}}" + MODEL.replace("shuffle: false", "shuffle: true")
    first, second = _train_order(tmp_path, spec)
    assert sorted(first) == list(range(2000)) and sorted(second) == list(range(2000))
    assert list(first) != list(range(2000)) and list(first) != list(second)
