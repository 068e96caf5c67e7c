"""Large in-memory arrays reach TensorFlow without a copy: npz arrays are read into 64-byte
aligned memory, splits are gathered into it, and such arrays are shared with their tensors."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from kerun.data import load_datasets
from kerun.data._common import ALIGN, SourceContext, aligned_empty, take_rows
from kerun.data.npz import load_npz_file
from kerun.data.pipeline import _tensor
from kerun.errors import DataError

from datahelpers import collect, make_spec, mlp3

BIG = (3000, 100)  # 1.2 MB of float32: above the sharing threshold


def test_a_large_aligned_array_is_shared_and_others_are_copied():
    a = aligned_empty(BIG, np.float32)
    a[...] = 1.0
    assert a.ctypes.data % ALIGN == 0
    shared = _tensor(a)
    a[0, 0] = 7.0
    assert float(shared[0, 0]) == 7.0  # the tensor reads the array's memory

    unaligned = a.reshape(-1)[1:].reshape(-1, 1)  # 4 bytes in: TensorFlow could not use it
    copied = _tensor(unaligned)
    unaligned[0, 0] = 9.0
    assert float(copied[0, 0]) == 1.0
    small = aligned_empty((4, 4), np.float32)
    small[...] = 0
    t = _tensor(small)
    small[0, 0] = 5.0
    assert float(t[0, 0]) == 0.0


def test_take_rows_is_aligned_and_equal():
    rng = np.random.default_rng(0)
    a = rng.random(BIG).astype(np.float32)
    idx = rng.integers(0, BIG[0], 2 * BIG[0])
    got = take_rows(a, idx)
    assert got.ctypes.data % ALIGN == 0
    np.testing.assert_array_equal(got, a[idx])


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_arrays_read_aligned_equal_numpy(tmp_path, compressed):
    rng = np.random.default_rng(1)
    arrays = {"c": rng.random(BIG).astype(np.float32), "f": np.asfortranarray(rng.random(BIG)),
              "big_endian": np.arange(BIG[0] * 100, dtype=">i4").reshape(BIG), "small": np.arange(5)}
    (np.savez_compressed if compressed else np.savez)(tmp_path / "a.npz", **arrays)
    ctx = SourceContext(None, ("data", "train"), None)
    got = load_npz_file(ctx, tmp_path / "a.npz", ["c", "f", "big_endian"], None)
    for name in ("c", "f", "big_endian"):
        np.testing.assert_array_equal(got.fields[name], arrays[name])
        assert got.fields[name].dtype == arrays[name].dtype
    assert got.fields["c"].ctypes.data % ALIGN == 0


def test_truncated_and_object_npz_are_errors(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros(BIG, np.float32))
    with zipfile.ZipFile(tmp_path / "a.npz") as z:
        data = z.read("x.npy")
    with zipfile.ZipFile(tmp_path / "cut.npz", "w") as z:
        z.writestr("x.npy", data[: len(data) // 2])
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}, None], dtype=object))
    ctx = SourceContext(None, ("data", "train"), None)
    with pytest.raises(DataError, match="corrupt"):
        load_npz_file(ctx, tmp_path / "cut.npz", None, None)
    with pytest.raises(DataError, match="without pickle"):
        load_npz_file(ctx, tmp_path / "obj.npz", None, None)


def test_training_data_from_npz_is_shared_not_copied(tmp_path, monkeypatch):
    import tensorflow as tf

    x = np.random.default_rng(2).random((4000, 100)).astype(np.float32)  # splits of 1.2 MB and 0.4 MB
    np.savez(tmp_path / "d.npz", x=x, label=np.arange(4000) % 3)
    shared = []
    real = tf.experimental.dlpack.from_dlpack
    monkeypatch.setattr(tf.experimental.dlpack, "from_dlpack", lambda capsule: shared.append(1) or real(capsule))
    loaded, built = make_spec(tmp_path, "data: {train: {type: npz, path: d.npz}, validation: {split: 0.25}}" + mlp3(100))
    ds = load_datasets(loaded, built)
    assert len(shared) == 1  # the training inputs (the validation split and the labels are small)
    got, _ = collect(ds.train)
    assert got.shape == (3000, 100)
    np.testing.assert_array_equal(np.sort(got[:, 0]), np.sort(x[:, 0])[np.isin(np.sort(x[:, 0]), got[:, 0])])
