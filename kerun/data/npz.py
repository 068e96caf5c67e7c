"""``type: npz``: a NumPy ``.npz`` archive; each array is a field (pickled objects are refused)."""

from __future__ import annotations

import zipfile

import numpy as np

from kerun.data._common import Arrays, SourceContext, missing_name_error

__all__ = ["read_npz", "load_npz_file"]


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
                arr = archive[name]
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
