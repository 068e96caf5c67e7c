"""``type: parquet``: a Parquet file, one column per field, read whole or in row batches."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kerun.data._common import Arrays, SourceContext, TableStream, missing_name_error
from kerun.data.csv import column_to_numpy, table_to_arrays

__all__ = ["BATCH_ROWS", "read_parquet", "stream_parquet"]

BATCH_ROWS = 65536
"""Rows per record batch when streaming."""


def _open(ctx: SourceContext, path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise ctx.error(f"{path} is not a readable Parquet file (truncated or corrupt?): {e}", "path") from None


def _columns(ctx: SourceContext, pf: pq.ParquetFile) -> list[str] | None:
    names = list(pf.schema_arrow.names)
    if ctx.spec.columns is None:
        return None
    for i, c in enumerate(ctx.spec.columns):
        if c not in names:
            raise missing_name_error(ctx, "column", c, names, "columns", i)
    return list(ctx.spec.columns)


def _iter(ctx: SourceContext, path: Path, pf: pq.ParquetFile, cols: Sequence[str] | None, rows: int) -> Iterator[pa.RecordBatch]:
    try:
        yield from pf.iter_batches(batch_size=rows, columns=list(cols) if cols is not None else None)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise ctx.error(f"{path}: cannot read the Parquet data (truncated or corrupt?): {e}", "path") from None


def read_parquet(ctx: SourceContext, limit: int | None = None) -> Arrays:
    path = ctx.file()
    pf = _open(ctx, path)
    cols = _columns(ctx, pf)
    if limit is not None:
        batches = []
        got = 0
        for b in _iter(ctx, path, pf, cols, min(BATCH_ROWS, limit)):
            batches.append(b)
            got += b.num_rows
            if got >= limit:
                break
        table = pa.Table.from_batches(batches, schema=batches[0].schema if batches else None) if batches else pf.schema_arrow.empty_table()
        return table_to_arrays(table.slice(0, limit))
    try:
        table = pf.read(columns=cols)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise ctx.error(f"{path}: cannot read the Parquet data (truncated or corrupt?): {e}", "path") from None
    return table_to_arrays(table)


def stream_parquet(ctx: SourceContext, *, limit: int | None = None) -> TableStream:
    path = ctx.file()
    pf = _open(ctx, path)
    cols = _columns(ctx, pf)
    schema = pf.schema_arrow
    names = cols if cols is not None else list(schema.names)
    dtypes: dict[str, np.dtype] = {}
    for name in names:
        t = schema.field(name).type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
            dtypes[name] = np.dtype(object)
        elif pa.types.is_integer(t) or pa.types.is_boolean(t):
            dtypes[name] = np.dtype(np.float64) if schema.field(name).nullable else np.dtype(t.to_pandas_dtype())
        else:
            try:
                dtypes[name] = np.dtype(t.to_pandas_dtype())
            except (NotImplementedError, TypeError):
                dtypes[name] = np.dtype(object)

    def chunks(wanted: Sequence[str] | None) -> Iterator[dict[str, np.ndarray]]:
        use = list(wanted) if wanted is not None else names
        for b in _iter(ctx, path, pf, use, BATCH_ROWS):
            out = {}
            for c in use:
                arr = column_to_numpy(b.column(c))
                want = dtypes[c]
                out[c] = arr.astype(want, copy=False) if want != object and arr.dtype != want else arr
            yield out

    return TableStream(columns=list(names), dtypes=dtypes, chunks=chunks, num_rows=pf.metadata.num_rows, limit=limit)
