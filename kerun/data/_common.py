"""Shared pieces of the data sources: the in-memory :class:`Arrays`, the streaming
:class:`TableStream`, and :class:`SourceContext` that turns problems into located DataErrors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from kerun.errors import DataError
from kerun.spec import LoadedSpec
from kerun.spec.suggest import did_you_mean

__all__ = ["ALIGN", "ALIGN_FROM", "Arrays", "SourceContext", "TableStream", "aligned_empty", "missing_name_error", "take_rows"]

ALIGN = 64
"""Byte alignment TensorFlow needs to use an array's memory as a tensor's without a copy."""

ALIGN_FROM = 1 << 20
"""Bytes from which an array is worth aligning and sharing with TensorFlow; smaller ones are cheap to copy."""


def aligned_empty(shape: tuple[int, ...], dtype: Any, *, fortran: bool = False) -> np.ndarray:
    """An uninitialised array whose data starts on an :data:`ALIGN`-byte boundary (when it is
    large enough to be worth handing to TensorFlow without a copy; numpy only promises 16)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < ALIGN_FROM:
        return np.empty(shape, dtype, order="F" if fortran else "C")
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    flat = raw[start:start + nbytes].view(dtype)
    return flat.reshape(shape, order="F" if fortran else "C")


def take_rows(arr: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``arr[index]`` along the first axis, into aligned memory."""
    out = aligned_empty((len(index), *arr.shape[1:]), arr.dtype)
    return np.take(arr, index, axis=0, out=out)


@dataclass
class Arrays:
    """One split held in memory: field name -> numpy array, all with the same first dimension."""

    fields: dict[str, np.ndarray]

    def __len__(self) -> int:
        for value in self.fields.values():
            return int(value.shape[0])
        return 0

    def take(self, index: np.ndarray) -> "Arrays":
        """The examples at ``index`` (a copy)."""
        return Arrays({k: v[index] for k, v in self.fields.items()})

    def head(self, n: int) -> "Arrays":
        """The first ``n`` examples (a view)."""
        return Arrays({k: v[:n] for k, v in self.fields.items()})


@dataclass
class TableStream:
    """A CSV or Parquet file read in chunks with bounded memory.

    ``chunks(columns)`` yields dicts of column name -> 1-D numpy array (each chunk a few MB of
    rows), restricted to ``columns`` when given. ``columns``/``dtypes`` describe the table;
    every column is one scalar per example.
    """

    columns: list[str]
    dtypes: dict[str, np.dtype]
    chunks: Callable[[Sequence[str] | None], Iterator[dict[str, np.ndarray]]]
    num_rows: int | None = None
    limit: int | None = None
    units: Callable[[], Iterator[tuple[bytes, int, int]]] | None = None
    """Optional: the raw blocks behind ``chunks`` as ``(payload, first_row, first_line)``, cheap to
    produce in order; ``read_unit(payload, first_line, columns)`` parses one, so blocks can be
    parsed in parallel."""
    read_unit: Callable[[bytes, int, Sequence[str] | None], dict[str, np.ndarray]] | None = None


@dataclass
class SourceContext:
    """Where a source is written in the spec, to place its errors."""

    loaded: LoadedSpec | None
    path: tuple[str | int, ...]
    spec: Any
    extra: dict[str, Any] = field(default_factory=dict)

    def locate(self, *keys: str | int):
        if self.loaded is None:
            return None
        return self.loaded.doc.locate(self.path + tuple(keys))

    def error(self, message: str, *keys: str | int, hint: str | None = None) -> DataError:
        """A DataError at this source (or one of its keys), its message prefixed with the source."""
        return DataError(f"{self.describe()}: {message}", location=self.locate(*keys), path=self.path + tuple(keys), hint=hint)

    def describe(self) -> str:
        spec = self.spec
        kind = getattr(spec, "type", "source")
        what = getattr(spec, "path", None) or getattr(spec, "name", None)
        return f"{kind} source {what!s}" if what else f"{kind} source"

    def resolve(self, relative: str) -> Path:
        if self.loaded is None:
            return Path(relative).expanduser()
        return self.loaded.resolve(relative)

    def file(self, key: str = "path") -> Path:
        """The source's file, which must exist: else a DataError at the spec line of ``path``."""
        rel = getattr(self.spec, key)
        p = self.resolve(rel)
        # A FIFO would hang the read and a device never end: only a regular file (or the folder of
        # an images or text source) is read; a path too long or with a NUL is an error too.
        from kerun.safeio import why_not_regular

        kind = getattr(self.spec, "type", "source")
        reason = why_not_regular(p, folders=kind in ("images", "text"))
        if reason is not None and reason != "no such file":
            raise DataError(f"{kind} source: {str(p)[:200]} cannot be read: {reason}", location=self.locate(key), path=self.path + (key,))
        if reason is not None:
            raise DataError(
                f"{getattr(self.spec, 'type', 'source')} source: no such file or folder: {p}",
                location=self.locate(key),
                path=self.path + (key,),
                hint=f"paths are relative to the spec file's folder ({p.parent})" if not Path(rel).is_absolute() else None,
            )
        return p


def missing_name_error(ctx: SourceContext, what: str, name: str, known: Sequence[str], *keys: str | int,
                       where: tuple[str | int, ...] | None = None, hint: str | None = None) -> DataError:
    """``no column 'lable'`` with a did-you-mean and the known names."""
    suggestion = did_you_mean(name, known)
    shown = ", ".join(list(known)[:20]) + (" ..." if len(known) > 20 else "")
    parts = [p for p in (suggestion, f"the {what}s are: {shown}" if known else None, hint) if p]
    err = ctx.error(f"no {what} {name!r}", *keys, hint="\n".join(parts) or None)
    if where is not None and ctx.loaded is not None:
        err = DataError(err.message, location=ctx.loaded.doc.locate(where), path=where, hint=err.problems[0].hint)
    return err
