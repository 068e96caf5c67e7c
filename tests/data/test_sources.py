"""Every source type on small files written into tmp_path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kerun.data import load_datasets
from kerun.errors import DataError

from datahelpers import collect, make_spec, mlp3


def test_csv_default_input_stacks_every_non_label_column(tmp_path, table_csv):
    loaded, built = make_spec(tmp_path, "data: {train: {type: csv, path: table.csv, label: label}}" + mlp3(3))
    ds = load_datasets(loaded, built)
    x, y = collect(ds.train)
    assert ds.sizes == {"train": 40}
    assert x.dtype == np.float32 and x.shape == (40, 3)
    np.testing.assert_allclose(x[5], [5, 10, 0.5], rtol=1e-6)
    assert y.dtype == np.int32 and list(y[:4]) == [0, 1, 2, 0]
    assert ds.num_classes == {built.output_names[0]: 3}


def test_csv_columns_selection_and_limit(tmp_path, table_csv):
    loaded, built = make_spec(tmp_path, "data: {train: {type: csv, path: table.csv, label: label, columns: [label, a, c], limit: 7}}" + mlp3(2))
    x, y = collect(load_datasets(loaded, built).train)
    assert x.shape == (7, 2)
    np.testing.assert_allclose(x[:, 0], np.arange(7))
    # the limit argument wins when smaller
    x, _ = collect(load_datasets(loaded, built, limit=3).train)
    assert len(x) == 3


def test_parquet_matches_csv(tmp_path, table_csv):
    pd.read_csv(table_csv).to_parquet(tmp_path / "table.parquet")
    lc, bc = make_spec(tmp_path, "data: {train: {type: csv, path: table.csv, label: label}}" + mlp3())
    lp, bp = make_spec(tmp_path, "data: {train: {type: parquet, path: table.parquet, label: label}}" + mlp3())
    xc, yc = collect(load_datasets(lc, bc).train)
    xp, yp = collect(load_datasets(lp, bp).train)
    np.testing.assert_array_equal(xc, xp)
    np.testing.assert_array_equal(yc, yp)


def test_npz_arrays_are_fields(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((20, 3)), label=np.arange(20) % 3, junk=np.zeros((20, 9)))
    loaded, built = make_spec(tmp_path, "data: {train: {type: npz, path: d.npz, arrays: [x, label]}}" + mlp3())
    x, y = collect(load_datasets(loaded, built).train)
    assert x.shape == (20, 3) and x.dtype == np.float32
    assert list(y[:3]) == [0, 1, 2]


def _write_images(root, classes=("cat", "dog"), per_class=3, size=(10, 6)):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            arr = np.full((size[1], size[0], 3), 40 * c + i, dtype=np.uint8)
            Image.fromarray(arr).save(root / name / f"{i}.png")


IMG_MODEL = """
model:
  inputs: {{image: [8, 8, {ch}]}}
  layers:
    - {{type: Flatten}}
    - {{type: Dense, units: 2, activation: softmax}}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
train: {{batch_size: 4, shuffle: false}}
"""


def test_images_folder(tmp_path):
    _write_images(tmp_path / "imgs")
    loaded, built = make_spec(tmp_path, "data: {train: {type: images, path: imgs, image_size: [8, 8]}}" + IMG_MODEL.format(ch=3))
    ds = load_datasets(loaded, built)
    x, y = collect(ds.train)
    assert ds.class_names == ["cat", "dog"]
    assert x.shape == (6, 8, 8, 3) and x.dtype == np.float32
    assert list(y) == [0, 0, 0, 1, 1, 1]
    assert x[4, 0, 0, 0] == 41.0  # dog/1.png: 40 * 1 + 1, values 0-255


def test_images_grayscale(tmp_path):
    _write_images(tmp_path / "imgs")
    loaded, built = make_spec(tmp_path, "data: {train: {type: images, path: imgs, image_size: [8, 8], color_mode: grayscale}}" + IMG_MODEL.format(ch=1))
    x, _ = collect(load_datasets(loaded, built).train)
    assert x.shape == (6, 8, 8, 1)


TEXT_MODEL = """
model:
  inputs: {text: {shape: [1], dtype: string}}
  layers:
    - {type: TextVectorization, max_tokens: 50, output_sequence_length: 4}
    - {type: Embedding, input_dim: 50, output_dim: 4}
    - {type: GlobalAveragePooling1D}
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
train: {batch_size: 4, shuffle: false}
"""


def test_text_folder(tmp_path):
    for name, words in (("neg", "bad awful"), ("pos", "good great")):
        (tmp_path / "txt" / name).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "txt" / name / f"{i}.txt").write_text(f"{words} {i}")
    loaded, built = make_spec(tmp_path, "data: {train: {type: text, path: txt}}" + TEXT_MODEL)
    ds = load_datasets(loaded, built)
    x, y = collect(ds.train)
    assert ds.class_names == ["neg", "pos"]
    assert x.shape == (6, 1) and x[0, 0] == b"bad awful 0"
    assert list(y) == [0, 0, 0, 1, 1, 1]
    built.model.layers[0].adapt(ds.adapt())  # the adapt dataset feeds a TextVectorization


def test_text_csv_with_named_labels(tmp_path):
    (tmp_path / "t.csv").write_text("review,sentiment\nnice film,pos\nterrible,neg\nfine,pos\n")
    loaded, built = make_spec(tmp_path, "data: {train: {type: text, path: t.csv, column: review, label: sentiment}}" + TEXT_MODEL)
    ds = load_datasets(loaded, built)
    x, y = collect(ds.train)
    assert list(x[:, 0]) == [b"nice film", b"terrible", b"fine"]
    assert list(y) == [1, 0, 1] and ds.class_names == ["neg", "pos"]


def test_sklearn_iris_and_diabetes(tmp_path):
    loaded, built = make_spec(tmp_path, """
        data: {train: {type: sklearn, name: iris}, targets: {encoding: one_hot}}
        model: {inputs: {features: [4]}, layers: [{type: Dense, units: 3, activation: softmax}]}
        train: {shuffle: false}
    """)
    ds = load_datasets(loaded, built)
    x, y = collect(ds.train)
    assert x.shape == (150, 4) and y.shape == (150, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(y.sum(axis=1), 1)
    assert ds.class_names == ["setosa", "versicolor", "virginica"]
    loaded, built = make_spec(tmp_path, """
        data: {train: {type: sklearn, name: diabetes}}
        model: {inputs: {features: [10]}, layers: [{type: Dense, units: 1}]}
    """)
    x, y = collect(load_datasets(loaded, built).train)
    assert x.shape == (442, 10) and y.dtype == np.float32 and y.shape == (442, 1)
    assert not np.allclose(y, np.round(y)) or y.max() > 3  # real-valued targets, not class ids


KERAS_MODEL = """
data: {train: {type: keras, name: mnist, part: PART}}
model:
  inputs: {image: [28, 28, 1]}
  layers: [{type: Flatten}, {type: Dense, units: 10, activation: softmax}]
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
train: {shuffle: false}
"""


def test_keras_dataset_from_cache(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    (home / "datasets").mkdir(parents=True)
    rng = np.random.default_rng(1)
    np.savez(home / "datasets" / "mnist.npz", x_train=rng.integers(0, 255, (12, 28, 28), dtype=np.uint8),
             y_train=np.arange(12, dtype=np.uint8) % 10, x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.ones(5, np.uint8))
    monkeypatch.setenv("KERAS_HOME", str(home))
    loaded, built = make_spec(tmp_path, KERAS_MODEL.replace("PART", "train"))
    x, y = collect(load_datasets(loaded, built).train)
    assert x.shape == (12, 28, 28, 1) and list(y[:3]) == [0, 1, 2]
    loaded, built = make_spec(tmp_path, KERAS_MODEL.replace("PART", "test"))
    x, y = collect(load_datasets(loaded, built).train)
    assert x.shape == (5, 28, 28, 1) and set(y) == {1}


def test_keras_dataset_not_cached_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_home"))
    loaded, built = make_spec(tmp_path, KERAS_MODEL.replace("PART", "train"))
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    text = str(err.value)
    assert "not in the local Keras cache" in text and "mnist.npz" in text
    assert "keras.datasets.mnist.load_data()" in text
    assert err.value.location.line == 2
    assert not (tmp_path / "empty_home").exists()


SYN = """
seed: 3
data:
  train:
    type: synthetic
    size: 500
    fields:
      x: {shape: [4]}
      n: {shape: [4], dtype: int32, min: 5, max: 9}
      z: {shape: [4], distribution: normal}
      label: {classes: 3}
model:
  inputs: {x: [4], n: {shape: [4], dtype: int32}, z: [4]}
  layers:
    - {name: c, type: Concatenate, inputs: [x, n, z]}
    - {name: out, type: Dense, units: 3, activation: softmax}
  outputs: [out]
train: {shuffle: false, batch_size: 100}
"""


def test_synthetic_fields_and_seed(tmp_path):
    loaded, built = make_spec(tmp_path, SYN)
    x, y = collect(load_datasets(loaded, built).train)
    assert set(x) == {"x", "n", "z"}
    assert x["n"].dtype == np.int32 and x["n"].min() >= 5 and x["n"].max() < 9 and set(np.unique(x["n"])) == {5, 6, 7, 8}
    assert 0 <= x["x"].min() and x["x"].max() < 1
    assert x["z"].min() < 0 < x["z"].max()
    assert y.dtype == np.int32 and set(np.unique(y)) == {0, 1, 2}
    x2, _ = collect(load_datasets(loaded, built).train)
    np.testing.assert_array_equal(x["x"], x2["x"])
    loaded3, built3 = make_spec(tmp_path, SYN.replace("seed: 3", "seed: 4"))
    x3, _ = collect(load_datasets(loaded3, built3).train)
    assert not np.array_equal(x["x"], x3["x"])
