"""Field -> input/target mapping: defaults, columns, scale/reshape, encodings, weights, checks."""

from __future__ import annotations

import numpy as np
import pytest

from kerun.data import load_datasets
from kerun.errors import DataError

from datahelpers import collect, make_spec, mlp3, write_csv


def test_columns_glob_reshape_scale_offset(tmp_path):
    rows = [[i % 2] + [i * 100 + j for j in range(4)] + [7] for i in range(6)]
    write_csv(tmp_path / "p.csv", ["label", "p1", "p2", "p3", "p4", "other"], rows)
    loaded, built = make_spec(tmp_path, """
        data:
          train: {type: csv, path: p.csv, label: label}
          inputs:
            img: {columns: "p*", reshape: [2, 2, 1], offset: 1, scale: 0.5}
        model:
          inputs: {img: [2, 2, 1]}
          layers: [{type: Flatten}, {type: Dense, units: 2, activation: softmax}]
        train: {shuffle: false}
    """)
    x, y = collect(load_datasets(loaded, built).train)
    assert x.shape == (6, 2, 2, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[3].ravel(), (np.array([300, 301, 302, 303]) + 1) * 0.5)


def test_reshape_to_declared_input_without_reshape_key(tmp_path):
    np.savez(tmp_path / "d.npz", image=np.arange(5 * 16).reshape(5, 16), label=np.zeros(5, np.int64))
    loaded, built = make_spec(tmp_path, """
        data: {train: {type: npz, path: d.npz}}
        model:
          inputs: {image: [4, 4, 1]}
          layers: [{type: Flatten}, {type: Dense, units: 2, activation: softmax}]
    """)
    x, _ = collect(load_datasets(loaded, built).train)
    assert x.shape == (5, 4, 4, 1)


def test_shape_that_cannot_fit_names_input_and_shapes(tmp_path):
    np.savez(tmp_path / "d.npz", image=np.zeros((5, 15)), label=np.zeros(5, np.int64))
    loaded, built = make_spec(tmp_path, """
        data: {train: {type: npz, path: d.npz}}
        model:
          inputs: {image: [4, 4, 1]}
          layers: [{type: Flatten}, {type: Dense, units: 2, activation: softmax}]
    """)
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    msg = err.value.message
    assert "'image'" in msg and "[15]" in msg and "[4, 4, 1]" in msg


def test_one_hot_with_explicit_classes_and_sparse(tmp_path, table_csv):
    spec = """
        data: {train: {type: csv, path: table.csv, label: label}, targets: {encoding: one_hot, classes: 3}}
        model: {inputs: {x: [3]}, layers: [{type: Dense, units: 3, activation: softmax}]}
        train: {shuffle: false}
    """
    loaded, built = make_spec(tmp_path, spec)
    _, y = collect(load_datasets(loaded, built).train)
    assert y.shape == (40, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(y.argmax(axis=1), np.arange(40) % 3)
    loaded, built = make_spec(tmp_path, spec.replace("one_hot, classes: 3", "sparse"))
    _, y = collect(load_datasets(loaded, built).train)
    assert y.shape == (40,) and y.dtype == np.int32


def test_label_out_of_range_is_an_error(tmp_path):
    write_csv(tmp_path / "t.csv", ["label", "a"], [[0, 1], [2, 1], [7, 3], [1, 1]])
    loaded, built = make_spec(tmp_path, "data: {train: {type: csv, path: t.csv, label: label}}" + mlp3(1))
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    msg = err.value.message
    assert "t.csv" in msg and "label 7" in msg and "[0, 3)" in msg


def _validated_against(table_csv, header: str, make):
    """Build the spec while the file's header says ``header`` (validate checks the names), then
    put the real header back: the file changed between validate and train."""
    real = table_csv.read_text()
    table_csv.write_text(header + real[real.index("\n"):])
    try:
        return make()
    finally:
        table_csv.write_text(real)


def test_missing_column_did_you_mean(tmp_path, table_csv):
    loaded, built = _validated_against(table_csv, "lable,a,b,c", lambda: make_spec(
        tmp_path, "data: {train: {type: csv, path: table.csv, label: lable}}" + mlp3()))
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "no field 'lable'" in err.value.message
    assert "did you mean 'label'?" in err.value.render()
    assert err.value.location.line == 1
    loaded, built = _validated_against(table_csv, "label,a,bb,c", lambda: make_spec(tmp_path, """
        data:
          train: {type: csv, path: table.csv, label: label}
          inputs: {x: {columns: [a, bb]}}
        model: {inputs: {x: [2]}, layers: [{type: Dense, units: 3}]}
    """))
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "no column 'bb'" in err.value.message and "did you mean 'b'?" in err.value.render()
    assert err.value.problems[0].path[:3] == ("data", "inputs", "x")


TWO = """
data:
  train: {type: npz, path: d.npz}
  inputs: {left: a, right: {field: b, scale: 2}}
  targets: {cls: lab, reg: {field: val}}
model:
  inputs: {left: [2], right: [3]}
  layers:
    - {name: m, type: Concatenate, inputs: [left, right]}
    - {name: cls, type: Dense, units: 4, activation: softmax, inputs: m}
    - {name: reg, type: Dense, units: 1, inputs: m}
  outputs: [cls, reg]
train: {shuffle: false, batch_size: 4, sample_weight: w}
"""


def test_multi_input_output_dicts_and_sample_weight(tmp_path):
    n = 10
    np.savez(tmp_path / "d.npz", a=np.ones((n, 2)), b=np.ones((n, 3)), lab=np.arange(n) % 4, val=np.arange(n) * 1.5,
             w=np.linspace(0, 1, n))
    loaded, built = make_spec(tmp_path, TWO)
    ds = load_datasets(loaded, built)
    x, y, w = collect(ds.train)
    assert set(x) == {"left", "right"} and set(y) == {"cls", "reg"}
    np.testing.assert_allclose(x["right"], 2)
    assert y["cls"].dtype == np.int32 and y["cls"].shape == (n,)
    assert y["reg"].shape == (n, 1) and y["reg"][3, 0] == 4.5
    np.testing.assert_allclose(w, np.linspace(0, 1, n), rtol=1e-6)
    assert ds.num_classes == {"cls": 4}
    built.model.compile(optimizer="sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    built.model.fit(ds.train, epochs=1, verbose=0)


def test_star_target_field_spec_applies_to_the_single_output(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 3)), cls=np.array([0, 1, 2, 0, 1, 2]))
    loaded, built = make_spec(tmp_path, "data: {train: {type: npz, path: d.npz}, targets: {field: cls, encoding: one_hot}}" + mlp3())
    x, y = collect(load_datasets(loaded, built).train)
    assert x.shape == (6, 3) and y.shape == (6, 3)
    np.testing.assert_array_equal(y.argmax(1), [0, 1, 2, 0, 1, 2])


def test_several_non_label_arrays_need_a_mapping(tmp_path):
    np.savez(tmp_path / "d.npz", p=np.zeros((6, 3)), q=np.zeros((6, 3)), label=np.zeros(6, np.int64))
    loaded, built = make_spec(tmp_path, "data: {train: {type: npz, path: d.npz}}" + mlp3())
    with pytest.raises(DataError, match="cannot tell which fields"):
        load_datasets(loaded, built)


def test_adapt_dataset_is_train_x_only(tmp_path, table_csv):
    loaded, built = make_spec(tmp_path, """
        seed: 1
        data: {train: {type: csv, path: table.csv, label: label}, validation: {split: 0.25}}
        model: {inputs: {x: [3]}, layers: [{type: Normalization}, {type: Dense, units: 3}]}
    """)
    ds = load_datasets(loaded, built)
    xs = collect(ds.adapt())
    assert xs.shape == (30, 3)
    built.adapt[0].adapt(ds.adapt())
    xtrain, _ = collect(ds.train)
    np.testing.assert_allclose(np.sort(xs[:, 0]), np.sort(xtrain[:, 0]))
