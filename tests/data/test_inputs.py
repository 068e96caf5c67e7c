"""read_inputs (kerun predict's inputs, kerun.data.inputs) and synthetic data shaped like the model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kerun.data import load_datasets, read_inputs, synthetic_arrays

from datahelpers import collect, make_spec, write_csv

SPEC = """
data:
  train: {type: csv, path: train.csv, label: label}
  inputs: {x: {columns: [a, b], scale: 0.5}}
model: {inputs: {x: [2]}, layers: [{type: Dense, units: 3, activation: softmax}]}
train: {batch_size: 4, shuffle: false}
"""


def test_read_inputs_from_csv_parquet_npz_and_mapping(tmp_path):
    write_csv(tmp_path / "train.csv", ["label", "a", "b"], [[i % 3, i, 10 * i] for i in range(8)])
    loaded, built = make_spec(tmp_path, SPEC)
    x_train, _ = collect(load_datasets(loaded, built).train)
    # a predict file without the label column, columns in another order, plus an extra column
    write_csv(tmp_path / "new.csv", ["b", "extra", "a"], [[10 * i, 0, i] for i in range(8)])
    got = read_inputs(loaded, built, str(tmp_path / "new.csv"), batch_size=3)
    ds = got.dataset
    x = collect(ds)
    assert x.shape == (8, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x, x_train)
    assert next(iter(ds)).shape[0] == 3
    pd.read_csv(tmp_path / "train.csv").to_parquet(tmp_path / "new.parquet")
    got = read_inputs(loaded, built, tmp_path / "new.parquet", batch_size=5)
    np.testing.assert_array_equal(collect(got.dataset), x_train)
    assert got.size == 8
    np.savez(tmp_path / "new.npz", a=np.arange(4.0), b=np.arange(4.0))
    got = read_inputs(loaded, built, tmp_path / "new.npz", batch_size=2)
    assert got.size == 4 and collect(got.dataset).tolist() == [[0, 0], [0.5, 0.5], [1, 1], [1.5, 1.5]]
    got = read_inputs(loaded, built, {"type": "csv", "path": "new.csv"}, batch_size=8)
    np.testing.assert_array_equal(collect(got.dataset), x_train)


def test_synthetic_arrays_and_synthetic_datasets(tmp_path):
    loaded, built = make_spec(tmp_path, """
        seed: 2
        data: {train: {type: synthetic, size: 8, fields: {a: {shape: [3]}}}, validation: {split: 0.2}}
        model:
          inputs: {a: [3], b: {shape: [5], dtype: int32}}
          layers:
            - {name: e, type: Embedding, input_dim: 4, output_dim: 2, inputs: b}
            - {name: f, type: Flatten, inputs: e}
            - {name: m, type: Concatenate, inputs: [a, f]}
            - {name: cls, type: Dense, units: 4, activation: softmax, inputs: m}
            - {name: bin, type: Dense, units: 1, activation: sigmoid, inputs: m}
          outputs: [cls, bin]
        compile: {optimizer: adam, loss: {cls: sparse_categorical_crossentropy, bin: binary_crossentropy}}
    """)
    x, y = synthetic_arrays(built, 10, 0)
    assert x["a"].shape == (10, 3) and x["b"].dtype == np.int32 and y["cls"].shape == (10, 4)
    x2, _ = synthetic_arrays(built, 10, 0)
    np.testing.assert_array_equal(x["a"], x2["a"])
    ds = load_datasets(loaded, built, synthetic=True, limit=40)
    assert ds.sizes == {"train": 40, "validation": 10}
    xb, yb = next(iter(ds.train))
    assert yb["cls"].shape == (32,) and yb["cls"].dtype.name == "int32" and yb["bin"].shape == (32, 1)
    built.model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "bin": "binary_crossentropy"})
    built.model.fit(ds.train, validation_data=ds.validation, epochs=1, verbose=0)


TEXT = """
data:
  train: {type: text, path: %s, column: review}
model:
  inputs: {text: {shape: [1], dtype: string}}
  layers:
    - {type: TextVectorization, max_tokens: 20, output_sequence_length: 4}
    - {type: Embedding, input_dim: 20, output_dim: 2}
    - {type: GlobalAveragePooling1D}
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
train: {batch_size: 4}
"""


def test_read_inputs_reads_text_as_the_training_source_does(tmp_path):
    """A text folder (one sub-folder per class) and a CSV with the training source's column."""
    for cls, words in (("neg", ["bad film", "dull"]), ("pos", ["great", "fine film"])):
        (tmp_path / "texts" / cls).mkdir(parents=True)
        for i, w in enumerate(words):
            (tmp_path / "texts" / cls / f"{i}.txt").write_text(w)
    (tmp_path / "train.csv").write_text("review,label\nok,pos\nmeh,neg\n")
    loaded, built = make_spec(tmp_path, TEXT % "train.csv")
    got = read_inputs(loaded, built, tmp_path / "texts", batch_size=3)
    assert got.size == 4
    assert [t.decode() for t in collect(got.dataset).reshape(-1)] == ["bad film", "dull", "great", "fine film"]
    (tmp_path / "new.csv").write_text("id,review\n1,so so\n2,loved it\n")  # no label column
    got = read_inputs(loaded, built, tmp_path / "new.csv", batch_size=3)
    assert [t.decode() for t in collect(got.dataset).reshape(-1)] == ["so so", "loved it"]
