"""``data.windows``: a time series cut into windows of consecutive rows, split by time.

The rows of the training source (a CSV or Parquet table, an npz archive whose arrays are columns or
blocks of columns, synthetic fields) are taken in file order. Hold-out splits are contiguous spans
of time: the first rows train, the next validate, the last test (``ceil(f * rows)`` rows for a
fraction ``f``, as the shuffled splits count them). Each span is windowed on its own, the way
``keras.utils.timeseries_dataset_from_array`` windows an array, so no window and no target crosses
a split boundary:

- window ``i`` starts at row ``s = i * sequence_stride`` and holds rows
  ``s, s + sampling_rate, ..., s + (sequence_length - 1) * sampling_rate``;
- its target is the ``target`` column(s) at the row ``target_offset`` rows after the window's last
  row (``target_offset: 0`` is the last row itself); windows whose target row is past the span's
  end are left out.

The windows become the fields ``window`` (steps x columns, float32; ``field:`` renames it) and
``target``; the field mapping then treats them like any other fields (``scale``/``offset`` per
column apply along the last axis, named by the window's columns). Only the training split is
shuffled, window by window, when ``train.shuffle`` is on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kerun.data._common import Arrays, SourceContext, TableStream, missing_name_error
from kerun.errors import DataError

__all__ = ["TARGET_FIELD", "time_spans", "window_arrays", "window_columns", "window_source", "window_splits"]

TARGET_FIELD = "target"


def _columns(ctx: SourceContext, arrays: Arrays, windows: Any) -> tuple[list[str], list[str]]:
    """The fields of each step and the step's column names (an npz array of k columns gives
    ``name[0]`` .. ``name[k-1]``)."""
    known = list(arrays.fields)
    where = ("data", "windows")
    target = [windows.target] if isinstance(windows.target, str) else list(windows.target or [])
    for i, name in enumerate(target):
        if name not in arrays.fields:
            keys = where + (("target",) if isinstance(windows.target, str) else ("target", i))
            raise missing_name_error(ctx, "column", name, known, where=keys)
    if windows.columns is not None:
        for i, name in enumerate(windows.columns):
            if name not in arrays.fields:
                raise missing_name_error(ctx, "column", name, known, where=where + ("columns", i))
        fields = list(windows.columns)
    else:
        label = getattr(ctx.spec, "label", None)
        fields = [f for f in known if f != label or f in target]
    names: list[str] = []
    for name in fields:
        arr = arrays.fields[name]
        if arr.ndim > 2:
            raise DataError(f"{ctx.describe()}: field {name!r} has shape {list(arr.shape[1:])} per row; a window step takes "
                            "one number per column (or a row of columns)", location=_loc(ctx, where), path=where,
                            hint="list the scalar columns under data.windows.columns")
        names.extend([name] if arr.ndim == 1 else [f"{name}[{j}]" for j in range(arr.shape[1])])
    return fields, names


def _loc(ctx: SourceContext, where: tuple[str | int, ...]) -> Any:
    return ctx.loaded.doc.locate(where) if ctx.loaded is not None else None


def _matrix(ctx: SourceContext, arrays: Arrays, fields: list[str], what: str) -> np.ndarray:
    """The fields as one float32 matrix, rows x columns; text is an error naming the column."""
    parts = []
    for name in fields:
        arr = arrays.fields[name]
        if arr.dtype == object or arr.dtype.kind in "US":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise ctx.error(f"column {name!r} holds text, but the {what} of data.windows needs numbers",
                                hint="list numeric columns under data.windows.columns") from None
        parts.append(arr.reshape(len(arr), -1).astype(np.float32, copy=False))
    out = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    bad = np.isnan(out).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ctx.error(f"missing value in the {what} of data.windows at data row {row + 1}",
                        hint="fill or drop missing values before windowing: a gap would shift every window after it")
    return np.ascontiguousarray(out)


def window_columns(ctx: SourceContext, arrays: Arrays, windows: Any) -> list[str]:
    """The column name of each position along a window's last axis."""
    return _columns(ctx, arrays, windows)[1]


def window_arrays(values: np.ndarray, targets: np.ndarray | None, windows: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The windows of one contiguous span (rows x columns) and their targets, as
    ``timeseries_dataset_from_array(values, targets[shift:], ...)`` gives them, ``shift`` being
    ``(sequence_length - 1) * sampling_rate + target_offset``."""
    length, stride, rate = windows.sequence_length, windows.sequence_stride, windows.sampling_rate
    span = (length - 1) * rate
    n = len(values) - span
    if targets is not None:
        n = min(n, len(values) - span - windows.target_offset)
    if n <= 0:
        empty_t = None if targets is None else np.empty((0, *targets.shape[1:]), targets.dtype)
        return np.empty((0, length, values.shape[1]), values.dtype), empty_t
    starts = np.arange(0, n, stride)
    index = starts[:, None] + np.arange(length)[None, :] * rate
    got = values[index]
    if targets is None:
        return got, None
    return got, targets[starts + span + windows.target_offset]


def time_spans(n: int, fractions: dict[str, float]) -> dict[str, tuple[int, int]]:
    """Row ranges by time: train first, then validation, then test (``ceil(f * n)`` rows each)."""
    held = {name: max(1, math.ceil(f * n)) for name, f in fractions.items()}
    train_end = n - sum(held.values())
    spans = {"train": (0, train_end)}
    start = train_end
    for name in ("validation", "test"):
        if name in held:
            spans[name] = (start, start + held[name])
            start += held[name]
    return spans


def window_splits(ctx: SourceContext, data: Arrays | TableStream, windows: Any,
                  fractions: dict[str, float], *, whole: str | None = None) -> tuple[dict[str, Arrays], list[str]]:
    """The windowed splits of the training source (``fractions``: the hold-outs written as
    ``split:``), and the window's column names; ``whole`` names the split of a held-out source
    windowed whole (returned as ``train``)."""
    where = ("data", "windows")
    if not isinstance(data, Arrays):
        raise DataError(f"{ctx.describe()}: data.windows needs the whole series in memory, and this source is streamed",
                        location=_loc(ctx, where), path=where, hint="remove 'stream: true' from the source")
    fields, names = _columns(ctx, data, windows)
    values = _matrix(ctx, data, fields, "columns")
    target_fields = [windows.target] if isinstance(windows.target, str) else list(windows.target or [])
    targets = None
    if target_fields:
        targets = _matrix(ctx, data, target_fields, "target")
        if isinstance(windows.target, str):
            targets = targets.reshape(len(targets))
    out: dict[str, Arrays] = {}
    for name, (lo, hi) in time_spans(len(values), fractions).items():
        got, tgt = window_arrays(values[lo:hi], None if targets is None else targets[lo:hi], windows)
        if not len(got):
            need = (windows.sequence_length - 1) * windows.sampling_rate + 1 + (windows.target_offset if targets is not None else 0)
            raise DataError(f"{ctx.describe()}: the {whole or name} split holds rows {lo + 1}-{hi} ({hi - lo} rows), too few for one window "
                            f"(a window and its target span {need} rows)", location=_loc(ctx, where + ("sequence_length",)),
                            path=where + ("sequence_length",),
                            hint="use a shorter window, a smaller target_offset or sampling_rate, or a larger split")
        fields_out = {windows.field: got}
        if tgt is not None:
            fields_out[TARGET_FIELD] = tgt
        out[name] = Arrays(fields_out)
    return out, names


def window_source(ctx: SourceContext, data: Arrays | TableStream, windows: Any, split: str) -> Arrays:
    """A held-out source given as its own file: windowed whole."""
    got, _ = window_splits(ctx, data, windows, {}, whole=split)
    return got["train"]
