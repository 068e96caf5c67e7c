"""Corrupt and missing data are DataErrors that name the file (and row) and the spec line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kerun.data.sources as kd
from kerun.data import load_datasets
from kerun.errors import DataError

from datahelpers import make_spec, mlp3

SPEC = """
data:
  train: {type: csv, path: bad.csv, label: label}
""" + mlp3(2)


@pytest.mark.parametrize("streaming", [False, True])
def test_ragged_csv_row_is_named(tmp_path, monkeypatch, streaming):
    lines = ["label,a,b"] + [f"{i % 3},{i},{i}" for i in range(30)]
    lines[17] = "1,2,3,4"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    if streaming:
        monkeypatch.setattr(kd, "STREAM_THRESHOLD", 0)
    loaded, built = make_spec(tmp_path, SPEC)
    with pytest.raises(DataError) as err:
        next(iter(load_datasets(loaded, built).train))
    msg = err.value.message
    assert "bad.csv" in msg and "line 18" in msg and "4 fields" in msg


def test_text_in_a_numeric_column(tmp_path):
    (tmp_path / "bad.csv").write_text("label,a,b\n0,1,2\n1,x,3\n")
    loaded, built = make_spec(tmp_path, SPEC)
    with pytest.raises(DataError, match="holds text"):
        load_datasets(loaded, built)


def test_missing_value(tmp_path):
    (tmp_path / "bad.csv").write_text("label,a,b\n0,1,2\n1,,3\n")
    loaded, built = make_spec(tmp_path, SPEC)
    with pytest.raises(DataError, match="missing value in column 'a' at data row 2"):
        load_datasets(loaded, built)


def test_truncated_parquet(tmp_path):
    pd.DataFrame({"label": np.arange(50) % 3, "a": np.arange(50.0), "b": np.arange(50.0)}).to_parquet(tmp_path / "t.parquet")
    data = (tmp_path / "t.parquet").read_bytes()
    (tmp_path / "t.parquet").write_bytes(data[: len(data) // 2])
    loaded, built = make_spec(tmp_path, SPEC.replace("csv, path: bad.csv", "parquet, path: t.parquet"))
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "t.parquet" in err.value.message and "Parquet" in err.value.message


def test_file_that_is_not_an_image(tmp_path):
    from PIL import Image

    (tmp_path / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "imgs" / "b").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "imgs" / "a" / "ok.png")
    (tmp_path / "imgs" / "b" / "broken.jpg").write_bytes(b"this is not a jpeg")
    loaded, built = make_spec(tmp_path, """
        data: {train: {type: images, path: imgs, image_size: [4, 4]}}
        model: {inputs: {image: [4, 4, 3]}, layers: [{type: Flatten}, {type: Dense, units: 2}]}
    """)
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "broken.jpg" in err.value.message and "not a readable image" in err.value.message


def test_missing_file_points_at_the_path_line(tmp_path):
    (tmp_path / "nowhere.csv").write_text("label,a,b\n0,1,2\n")
    loaded, built = make_spec(tmp_path, "\n" + SPEC.replace("bad.csv", "nowhere.csv"))
    (tmp_path / "nowhere.csv").unlink()  # gone between validate and train
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "nowhere.csv" in err.value.message
    loc = err.value.location
    assert loc is not None and loc.line == 4 and loc.file.endswith("spec.yaml")
    assert err.value.problems[0].path == ("data", "train", "path")


def test_ragged_row_deep_in_a_streamed_file(tmp_path, monkeypatch):
    import tensorflow as tf

    import kerun.data.csv as kcsv
    import kerun.data.pipeline as kpipe

    lines = ["label,a,b"] + [f"{i % 3},{i},{i}" for i in range(3000)]
    lines[2500] = "1,2"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(kd, "STREAM_THRESHOLD", 0)
    monkeypatch.setattr(kcsv, "BLOCK_SIZE", 2048)
    loaded, built = make_spec(tmp_path, SPEC)
    ds = load_datasets(loaded, built)  # the first blocks are fine
    with pytest.raises((DataError, tf.errors.OpError)) as err:
        for _ in ds.train:
            pass
    found = ds.errors.cause(err.value)
    assert found is not None and "line 2501" in found.message and "bad.csv" in found.message
    # the error is owned by these datasets: another spec's datasets know nothing of it
    (tmp_path / "good.csv").write_text("label,a,b\n0,1,2\n")
    other = load_datasets(*make_spec(tmp_path, SPEC.replace("bad.csv", "good.csv")))
    assert other.errors.cause(err.value) is None
    assert not [k for k, v in vars(kpipe).items() if isinstance(v, (list, dict)) and not k.startswith("__")]  # no module registry
    with pytest.raises(DataError, match="line 2501"), ds.errors.mapped():
        for _ in ds.train:
            pass
