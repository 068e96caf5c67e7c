"""Applying a :class:`~kerun.data.mapping.Plan` to rows: a source's fields become the arrays of
model inputs and targets (offset, scale, reshape, dtype, one-hot), vectorised, with errors that
name the row of the source (and the line of a CSV file) where a value does not fit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from kerun.data._common import aligned_empty

if TYPE_CHECKING:
    from kerun.data.mapping import FieldPlan, Plan

__all__ = ["Rows", "apply_field", "field_source", "known_shape", "numeric", "shape_size"]


def known_shape(shape: Sequence[int | None] | None) -> bool:
    return shape is not None and all(d is not None for d in shape)


def shape_size(shape: Sequence[int]) -> int:
    return int(math.prod(shape)) if shape else 1


def field_source(p: FieldPlan) -> str:
    if p.stack:
        return f"{len(p.fields)} columns {p.fields[0]!r}..{p.fields[-1]!r}" if len(p.fields) > 1 else f"column {p.fields[0]!r}"
    return f"field {p.fields[0]!r}"


class Rows:
    """Where the i-th row of a chunk is in its source: ``data row N`` (from 1), and for a CSV file
    the line of the file too (its header, if it has one, is line 1)."""

    def __init__(self, ctx: Any, row_offset: int, rows: np.ndarray | None) -> None:
        self.ctx, self.row_offset, self.rows = ctx, row_offset, rows

    def index(self, i: int) -> int:
        return int(self.rows[i]) if self.rows is not None else self.row_offset + i

    def __call__(self, i: int) -> str:
        r = self.index(i)
        spec = self.ctx.spec
        if getattr(spec, "type", None) != "csv":
            return f"data row {r + 1}"
        line = r + 1 + (0 if getattr(spec, "header", True) is False else 1)
        return f"data row {r + 1}, line {line} of the file"


def numeric(plan: Plan, name: str, arr: np.ndarray, dtype: str, at: Rows, what: str) -> np.ndarray:
    if arr.dtype == object or arr.dtype.kind in "US":
        try:
            return arr.astype(np.float64)
        except (ValueError, TypeError):
            flat = arr.reshape(len(arr), -1)
            for i in range(len(flat)):
                for v in flat[i]:
                    try:
                        float(v)
                    except (ValueError, TypeError):
                        raise plan.ctx.error(f"field {name!r} holds text ({str(v)[:40]!r} at {at(i)}), but {what} needs numbers ({dtype})",
                                             hint="choose numeric columns, or declare the input as dtype: string") from None
            raise
    return arr


def apply_field(plan: Plan, p: FieldPlan, fields: dict[str, np.ndarray], n: int, at: Rows) -> np.ndarray:
    ctx = plan.ctx
    what = f"the model {'output' if p.is_target else 'input'} {p.name!r}"
    if p.dtype == "string":
        arr = fields[p.fields[0]]
        if arr.dtype != object:
            arr = arr.astype(str).astype(object)
        return arr.reshape((n, *p.shape)) if p.shape is not None and known_shape(p.shape) else arr
    want = np.dtype(p.dtype)
    work = want if want.kind == "f" else np.dtype(np.float64)
    if p.stack:
        arr = aligned_empty((n, len(p.fields)), work)
        for j, c in enumerate(p.fields):
            arr[:, j] = numeric(plan, c, fields[c], p.dtype, at, what)
    else:
        arr = fields[p.fields[0]]
        if p.pad_to is not None:
            return _pad(arr, p.pad_to, want)
        arr = numeric(plan, p.fields[0], arr, p.dtype, at, what)
    if plan.schema.tabular and arr.dtype.kind == "f" and n:
        bad = np.isnan(arr.reshape(n, -1)).any(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            col = p.fields[int(np.flatnonzero(np.isnan(arr.reshape(n, -1)[i]))[0])] if p.stack else p.fields[0]
            short = " (an empty value or a short row)" if getattr(ctx.spec, "type", None) == "csv" else ""
            raise ctx.error(f"missing value in column {col!r} at {at(i)}{short} (for {what})",
                            hint="fill or drop missing values before training")
    if p.offset is not None or p.scale is not None:
        arr = arr.astype(work, copy=not p.stack)
        if p.offset is not None:
            arr += p.offset
        if p.scale is not None:
            arr *= p.scale
    if p.classes is not None and n:
        _check_labels(plan, p, arr, at)
    if p.one_hot is not None:
        ids = arr.reshape(n, -1) if shape_size(arr.shape[1:]) != 1 else arr.reshape(n)
        arr = np.eye(p.one_hot, dtype=want)[ids.astype(np.intp)]
    if p.reshape is not None and p.one_hot is None:
        arr = arr.reshape((n, *p.reshape))
    if p.shape is not None and tuple(arr.shape[1:]) != tuple(p.shape):
        arr = arr.reshape((n, *p.shape))
    return arr.astype(want, copy=False)


def _check_labels(plan: Plan, p: FieldPlan, arr: np.ndarray, at: Rows) -> None:
    flat = arr.reshape(-1)
    lo, hi = flat.min(), flat.max()
    integral = True
    if flat.dtype.kind == "f":
        integral = bool(np.all(np.isfinite(flat)) and np.all(flat == np.floor(flat)))
    if lo >= 0 and hi < p.classes and integral:
        return
    bad = (flat < 0) | (flat >= p.classes)
    if flat.dtype.kind == "f":
        bad |= ~np.isfinite(flat) | (flat != np.floor(flat))
    i = int(np.flatnonzero(bad)[0])
    row = at(i // max(1, shape_size(arr.shape[1:])))
    value = flat[i]
    value = int(value) if float(value).is_integer() else value
    raise plan.ctx.error(
        f"label {value} in {field_source(p)} ({row}) is not a class id in [0, {p.classes}) for the model output {p.name!r}",
        hint=f"the output has {p.classes} classes; check the label column, or set 'classes:' on the target")


def _pad(arr: np.ndarray, length: int, dtype: np.dtype) -> np.ndarray:
    # keras.utils.pad_sequences defaults: pre-padding with 0, keep the last `length` items.
    out = np.zeros((len(arr), length), dtype=dtype)
    for i, seq in enumerate(arr):
        s = np.asarray(seq)[-length:]
        if len(s):
            out[i, length - len(s):] = s
    return out
