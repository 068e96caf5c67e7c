"""``type: npz``: a NumPy ``.npz`` archive; each array is a field (pickled objects are refused)."""

from __future__ import annotations

import zipfile

import numpy as np

from kerun.data._common import Arrays, SourceContext, aligned_empty, missing_name_error

__all__ = ["read_npz", "load_npz_file"]

_READ_BYTES = 4 << 20


def _read_array(archive: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    """One array of the archive, read straight into aligned memory (so TensorFlow can use it
    without a copy); the same checks as ``np.load(allow_pickle=False)``."""
    member = name + ".npy" if name + ".npy" in archive.zip.namelist() else name
    with archive.zip.open(member) as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject:
            raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
        claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: 2**40 rows do not wrap
        held = archive.zip.getinfo(member).file_size
        if claimed > held:  # a header may claim any shape: never allocate more than the data holds
            raise EOFError(f"its header claims shape {tuple(shape)} ({claimed:,} bytes), the archive holds {held:,}")
        arr = aligned_empty(shape, dtype, fortran=fortran)
        view = memoryview(arr.reshape(-1, order="A").view(np.uint8))
        got = 0
        while got < len(view):
            n = f.readinto(view[got:got + _READ_BYTES])  # in pieces: one read would buffer it all
            if not n:
                raise EOFError(f"expected {len(view)} bytes of data, the file holds {got}")
            got += n
    return arr


def load_npz_file(ctx: SourceContext, path, names: list[str] | None, limit: int | None, key: str = "arrays") -> Arrays:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ctx.error(f"{path} is not a readable .npz file: {e}", "path") from None
    with archive:
        available = list(archive.files)
        wanted = names if names is not None else available
        fields: dict[str, np.ndarray] = {}
        for i, name in enumerate(wanted):
            if name not in available:
                raise missing_name_error(ctx, "array", name, available, key, i)
            try:
                arr = _read_array(archive, name)
            except ValueError as e:
                raise ctx.error(f"{path}: array {name!r} cannot be read without pickle ({e})", "path") from None
            except (OSError, zipfile.BadZipFile, EOFError) as e:
                raise ctx.error(f"{path}: array {name!r} is corrupt: {e}", "path") from None
            if arr.ndim == 0:
                raise ctx.error(f"{path}: array {name!r} is a scalar, not one value per example", "path")
            fields[name] = arr[:limit] if limit is not None else arr
    lengths = {k: len(v) for k, v in fields.items()}
    if len(set(lengths.values())) > 1:
        raise ctx.error(f"{path}: the arrays have different lengths {lengths}; every field needs one entry per example",
                        "path", hint="list the arrays that belong together under 'arrays:'")
    return Arrays(fields)


def read_npz(ctx: SourceContext, limit: int | None = None) -> Arrays:
    return load_npz_file(ctx, ctx.file(), ctx.spec.arrays, limit)
