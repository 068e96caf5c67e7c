"""``type: csv``: a delimited text file, one column per field, named by its header row (or, with
``header: false``, by ``names:`` or numbered from 0).

Small files are read whole with pyarrow's multithreaded reader. Large ones (or ``stream: true``)
are cut into blocks of whole records (a few MB of text each, never inside a quoted field) that are
parsed one by one with pandas' C parser, in parallel when training, so memory stays bounded.
A ragged row is a DataError naming the file and the line.
"""

from __future__ import annotations

import csv as _csv
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from kerun.data._common import Arrays, SourceContext, TableStream, missing_name_error

__all__ = ["BLOCK_SIZE", "read_csv", "stream_csv", "table_to_arrays", "column_to_numpy"]

BLOCK_SIZE = 4 * 1024 * 1024
"""Bytes of CSV text parsed per block when streaming."""


def column_to_numpy(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """One Arrow column as numpy: numbers stay numbers (nulls become NaN), text becomes str objects."""
    t = col.type
    if pa.types.is_null(t):
        return np.full(len(col), np.nan)
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        arr = col.to_numpy(zero_copy_only=False)
        if col.null_count:
            arr[np.equal(arr, None)] = ""
        return arr
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        values = col.to_pylist()
        try:
            return np.asarray(values, dtype=None if not values else np.asarray(values[0]).dtype)
        except ValueError:
            out = np.empty(len(values), dtype=object)
            out[:] = [np.asarray(v) for v in values]
            return out
    if (pa.types.is_integer(t) or pa.types.is_boolean(t)) and col.null_count:
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return col.to_numpy(zero_copy_only=False)


def table_to_arrays(table: pa.Table) -> Arrays:
    return Arrays({name: column_to_numpy(table.column(name)) for name in table.column_names})


def has_header(spec: object) -> bool:
    """Whether the file's first row names the columns (``header: false`` says it is data)."""
    return getattr(spec, "header", True) is not False


def _width_of(spec: object) -> str:
    """What a row's width is compared with, in messages."""
    if has_header(spec):
        return "the header has"
    return "'names' has" if getattr(spec, "names", None) else "the first row has"


def _header(ctx: SourceContext, path: Path, delimiter: str) -> list[str]:
    """The column names: the header row, or with ``header: false`` the ``names:`` (numbered from 0
    by default), as many as the first row has fields."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            row = next(_csv.reader(f, delimiter=delimiter), None)
    except (OSError, UnicodeDecodeError) as e:
        raise ctx.error(f"cannot read {path}: {e}", "path") from None
    if not has_header(ctx.spec):
        if not row:
            raise ctx.error(f"{path} is empty: expected rows of data", "path")
        names = getattr(ctx.spec, "names", None)
        if names is None:
            return [str(i) for i in range(len(row))]
        if len(names) != len(row):
            raise ctx.error(f"'names' gives {len(names)} columns, but the first row of {path} has {len(row)} fields", "names",
                            hint="name every column of the file, in order")
        return list(names)
    if not row:
        raise ctx.error(f"{path} is empty: expected a header row naming the columns", "path")
    return [c.strip() for c in row]


def _find_ragged_row(path: Path, delimiter: str, header: bool = True) -> tuple[int, int, int] | None:
    """(line number, expected fields, found fields) of the first row whose width differs from the
    header's (without a header, from the first row's)."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = _csv.reader(f, delimiter=delimiter)
        first = next(reader, None)
        if first is None:
            return None
        for row in reader:
            if row and len(row) != len(first):
                return reader.line_num, len(first), len(row)
    return None


def _arrow_error(ctx: SourceContext, path: Path, delimiter: str, e: Exception) -> Exception:
    msg = str(e)
    if "Expected" in msg and "columns" in msg:
        found = _find_ragged_row(path, delimiter, has_header(ctx.spec))
        if found is not None:
            line, expected, got = found
            return ctx.error(f"{path}: row at line {line} has {got} fields, {_width_of(ctx.spec)} {expected}", "path",
                             hint="every row needs one value per column (quote values that contain the delimiter)")
        return ctx.error(f"{path}: a row has the wrong number of fields ({msg})", "path")
    if "conversion error" in msg or "invalid value" in msg.lower():
        return ctx.error(f"{path}: {msg}", "path", hint="a column changes type part-way through the file (text among numbers?)")
    return ctx.error(f"{path}: cannot parse the file: {msg}", "path")


def _check_columns(ctx: SourceContext, wanted: Sequence[str] | None, header: list[str]) -> list[str] | None:
    if wanted is None:
        return None
    for i, c in enumerate(wanted):
        if c not in header:
            raise missing_name_error(ctx, "column", c, header, "columns", i)
    return list(wanted)


def _options(delimiter: str, columns: Sequence[str] | None, block_size: int | None = None,
             column_types: dict[str, pa.DataType] | None = None, threads: bool = True, names: Sequence[str] | None = None):
    """pyarrow's options; ``names`` for a file without a header row (its first row is then data)."""
    extra = {"column_names": list(names)} if names is not None else {}
    ro = (pacsv.ReadOptions(use_threads=threads, block_size=block_size, **extra) if block_size
          else pacsv.ReadOptions(use_threads=threads, **extra))
    po = pacsv.ParseOptions(delimiter=delimiter)
    co = pacsv.ConvertOptions(include_columns=list(columns) if columns else None, column_types=column_types,
                              strings_can_be_null=False)
    return ro, po, co


def read_csv(ctx: SourceContext, limit: int | None = None) -> Arrays:
    """The whole file (or its first ``limit`` rows, read block by block) in memory."""
    spec = ctx.spec
    path = ctx.file()
    header = _header(ctx, path, spec.delimiter)
    columns = _check_columns(ctx, spec.columns, header)
    if limit is not None:
        stream = stream_csv(ctx, block_size=min(BLOCK_SIZE, 1 << 20))
        parts: list[dict[str, np.ndarray]] = []
        got = 0
        for chunk in stream.chunks(None):
            parts.append(chunk)
            got += len(next(iter(chunk.values()))) if chunk else 0
            if got >= limit:
                break
        if not parts:
            return Arrays({c: np.empty(0) for c in (columns or header)})
        return Arrays({k: np.concatenate([p[k] for p in parts])[:limit] for k in parts[0]})
    names = None if has_header(spec) else header
    try:
        return _read_whole(path, spec.delimiter, columns, names)
    except pa.ArrowInvalid as e:
        raise _arrow_error(ctx, path, spec.delimiter, e) from None


def _read_whole(path: Path, delimiter: str, columns: list[str] | None, names: Sequence[str] | None) -> Arrays:
    """The file parsed block by block (in parallel) straight to the types the model takes: float
    columns to float32 (pyarrow infers float64), integers and text as they are; each block's columns
    are kept as numpy and joined one column at a time, so the parse buffers are gone before the
    tensors are built. Peak: about the arrays' size, plus one column, plus a few blocks; the parse
    buffers are handed back to the system at the end (benchmarks/csv_memory.py --read: a 206 MB
    file of 64 float columns peaks 512 MB over the memory before the read, 2.5x the file, and holds
    195 MB after; the float64 table read whole peaked 931 MB and held 711 MB)."""
    ro, po, co = _options(delimiter, columns, names=names)
    with pacsv.open_csv(path, read_options=ro, parse_options=po, convert_options=co) as probe:
        schema = probe.schema  # the types pyarrow infers from the first block, as read_csv does
    narrow = {f.name: pa.float32() for f in schema if pa.types.is_floating(f.type) and f.type != pa.float32()}
    ro, po, co = _options(delimiter, columns, column_types=narrow or None, names=names)
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in schema}
    with pacsv.open_csv(path, read_options=ro, parse_options=po, convert_options=co) as reader:
        for batch in reader:
            for name, col in zip(batch.schema.names, batch.columns):
                parts[name].append(column_to_numpy(col))
            del batch
    out: dict[str, np.ndarray] = {}
    for name in list(parts):
        pieces = parts.pop(name)
        if not pieces:
            out[name] = column_to_numpy(pa.array([], type=narrow.get(name, schema.field(name).type)))
        else:
            one = pieces[0]
            out[name] = (one if one.flags.writeable else one.copy()) if len(pieces) == 1 else np.concatenate(pieces)
        del pieces
    pa.default_memory_pool().release_unused()
    return Arrays(out)


_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 13, 32]] = True


def record_ends(buf: bytes) -> np.ndarray:
    """Offsets just past each newline of ``buf`` that ends a record (``buf`` starts at a record's
    start; a newline inside a quoted field does not end one)."""
    a = np.frombuffer(buf, np.uint8)
    nl = np.flatnonzero(a == 10)
    if len(nl) and buf.find(b'"') != -1:
        inside = np.logical_xor.accumulate(a == 34)  # odd number of quotes so far
        nl = nl[~inside[nl]]
    return nl + 1


def count_records(block: bytes, ends: np.ndarray) -> int:
    """Records in ``block`` (which ends at ``ends[-1]``), not counting blank lines, as pandas skips them."""
    if not len(ends):
        return 0
    a = np.frombuffer(block, np.uint8)
    starts = np.concatenate(([0], ends[:-1]))
    suspects = np.flatnonzero(_WHITESPACE[a[starts]])  # a blank record starts with whitespace
    blank = sum(1 for i in suspects if not block[starts[i]:ends[i]].strip())
    return len(ends) - blank


def ragged_record(block: bytes, delimiter: bytes, width: int) -> tuple[int, int] | None:
    """(index, fields) of the first non-blank line of ``block`` (no quotes in it) whose number of
    fields is not ``width``, or None. Vectorised: delimiters counted per line."""
    a = np.frombuffer(block, np.uint8)
    ends = np.flatnonzero(a == 10)
    if not len(ends) or ends[-1] != len(a) - 1:
        ends = np.append(ends, len(a))
    seps = np.flatnonzero(a == delimiter[0])
    fields = np.diff(np.searchsorted(seps, ends), prepend=0) + 1
    starts = np.concatenate(([0], ends[:-1] + 1))
    for i in np.flatnonzero(fields != width):
        line = block[starts[i]:ends[i]]
        if line.strip():
            return int(i), int(fields[i])
    return None


def csv_blocks(path: Path, start: int, block_size: int, first_line: int = 2) -> Iterator[tuple[bytes, int, int]]:
    """``(text, first_row, first_line)`` of whole records, about ``block_size`` bytes each, read from
    byte ``start`` (just after the header) to the end of the file. Rows count records from 0;
    lines count the file's lines from 1, the header being line 1 (``first_line`` is the line at
    ``start``: 1 for a file without a header)."""
    row, line = 0, first_line
    carry = b""
    with open(path, "rb") as f:
        f.seek(start)
        while True:
            data = f.read(block_size)
            buf = carry + data if carry else data
            if not data:
                if buf.strip():
                    yield buf, row, line
                return
            ends = record_ends(buf)
            if not len(ends):
                carry = buf
                continue
            cut = int(ends[-1])
            block, carry = buf[:cut], buf[cut:]
            yield block, row, line
            row += count_records(block, ends)
            line += block.count(b"\n")


def _header_end(path: Path) -> int:
    """Byte offset just past the header record."""
    with open(path, "rb") as f:
        head = b""
        while True:
            data = f.read(1 << 16)
            head += data
            ends = record_ends(head)
            if len(ends):
                return int(ends[0])
            if not data:
                return len(head)


def stream_csv(ctx: SourceContext, *, block_size: int | None = None, limit: int | None = None) -> TableStream:
    """The file as a :class:`TableStream` in blocks of whole records of about ``block_size`` bytes,
    each parsed with pandas' C parser (which releases the GIL, so blocks parse in parallel).
    Column types come from the first rows (integers are read as float64, so later blocks agree)."""
    import io

    import pandas as pd

    spec = ctx.spec
    path = ctx.file()
    header = _header(ctx, path, spec.delimiter)
    columns = _check_columns(ctx, spec.columns, header)
    bs = block_size or BLOCK_SIZE
    headerless = {} if has_header(spec) else {"header": None, "names": header}
    try:
        first = pd.read_csv(path, sep=spec.delimiter, usecols=columns, nrows=1000, engine="c", encoding="utf-8-sig", **headerless)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise _pandas_error(ctx, path, spec.delimiter, e) from None
    first.columns = [str(c).strip() for c in first.columns]
    dtypes: dict[str, np.dtype] = {}
    for name in first.columns:
        kind = first[name].dtype.kind
        dtypes[name] = np.dtype(np.float64) if kind in "iufb" else np.dtype(object)
    order = [c for c in header if c in dtypes]
    start = _header_end(path) if has_header(spec) else 0

    delimiter = spec.delimiter.encode()

    def read_unit(block: bytes, first_line: int, wanted: Sequence[str] | None) -> dict[str, np.ndarray]:
        cols = list(wanted) if wanted is not None else order
        conv = {c: (str if dtypes[c] == object else np.float64) for c in cols}
        # pandas checks every row's width itself when it parses every column (which is also
        # faster than usecols naming them all), but ignores extra fields under usecols: then the
        # widths are checked here when that is cheap (no quotes), else pandas sees every column.
        usecols: list[str] | None = cols
        if len(delimiter) != 1 or b'"' in block or len(set(cols)) == len(header):
            usecols = None
        else:
            bad = ragged_record(block, delimiter, len(header))
            if bad is not None:
                index, got = bad
                raise ctx.error(f"{path}: row at line {first_line + index} has {got} fields, {_width_of(spec)} {len(header)}", "path",
                                hint="every row needs one value per column (quote values that contain the delimiter)")
        try:
            frame = pd.read_csv(io.BytesIO(block), sep=spec.delimiter, header=None, names=header, usecols=usecols,
                                dtype=conv, engine="c", keep_default_na=True)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
            found = _text_in_numbers(block, spec.delimiter, header, [c for c in cols if dtypes[c] != object])
            if found is not None:
                index, column, value = found
                raise ctx.error(f"{path}: line {first_line + index}: column {column!r} holds text ({value[:40]!r}) "
                                "where the rest of the file has numbers", "path",
                                hint="fix the value, or make the whole column text") from None
            raise _pandas_error(ctx, path, spec.delimiter, e, first_line=first_line) from None
        out = {}
        for c in cols:
            arr = frame[c].to_numpy()
            if dtypes[c] == object:
                arr = np.where(pd.isna(arr), "", arr).astype(object) if frame[c].hasnans else arr.astype(object)
            out[c] = arr
        return out

    def units() -> Iterator[tuple[bytes, int, int]]:
        return csv_blocks(path, start, bs, 2 if has_header(spec) else 1)

    def chunks(wanted: Sequence[str] | None) -> Iterator[dict[str, np.ndarray]]:
        for block, _, first_line in units():
            yield read_unit(block, first_line, wanted)

    return TableStream(columns=order, dtypes=dtypes, chunks=chunks, num_rows=None, limit=limit,
                       units=units, read_unit=read_unit)


def _text_in_numbers(block: bytes, delimiter: str, header: list[str], numeric: list[str]) -> tuple[int, str, str] | None:
    """(row index in the block, column, value) of the first value of a numeric column that is not
    a number; None when there is none (the parse failed for another reason)."""
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(block), sep=delimiter, header=None, names=header, usecols=numeric or None,
                            dtype=str, engine="c", keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError):
        return None
    for column in numeric:
        values = frame[column].to_numpy()
        parsed = pd.to_numeric(pd.Series(values).replace("", np.nan), errors="coerce")
        bad = np.flatnonzero(parsed.isna().to_numpy() & (values != ""))
        if len(bad):
            return int(bad[0]), column, str(values[bad[0]])
    return None


def _pandas_error(ctx: SourceContext, path: Path, delimiter: str, e: Exception, first_line: int = 1) -> Exception:
    """A DataError for pandas' ``e``; ``first_line`` is the file line pandas counted as its line 1."""
    import re

    msg = str(e)
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        expected, line, got = m.groups()
        line = int(line) + first_line - 1
        return ctx.error(f"{path}: row at line {line} has {got} fields, {_width_of(ctx.spec)} {expected}", "path",
                         hint="every row needs one value per column (quote values that contain the delimiter)")
    if "could not convert" in msg or "Unable to parse" in msg or "invalid literal" in msg:
        return ctx.error(f"{path}: a numeric column holds text: {msg}", "path",
                         hint="a column changes type part-way through the file (text among numbers?)")
    return ctx.error(f"{path}: cannot parse the file: {msg}", "path")
