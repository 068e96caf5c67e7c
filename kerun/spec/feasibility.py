"""What training would refuse before its first step, decided from the spec alone, at validate.

A spec that validates must train: every rule here used to be found only by ``kerun train`` (a
missing data file after TensorFlow had loaded, a column that is not in the CSV, no loss, a
multi-worker setting Keras cannot run). Files are looked at, never read whole: a data path must be
an existing regular file (or folder, where the source reads one), and a CSV or Parquet file's
header is read to check the columns the spec names. No TensorFlow, no user code.
"""

from __future__ import annotations

import csv as _csv
import fnmatch
import io
import os
import stat
from pathlib import Path
from typing import Any, Iterable, Sequence

from kerun.errors import Problem
from kerun.spec.loader import Document
from kerun.spec.root import KerunSpec
from kerun.spec.suggest import did_you_mean

__all__ = ["check_feasible", "HEADER_BYTES"]

HEADER_BYTES = 1 << 20  # a header row longer than this is not read at validate (train reads it)

_FILE_SOURCES = {"csv", "parquet", "npz"}  # a regular file
_DIR_SOURCES = {"images"}  # a folder
_EITHER_SOURCES = {"text"}  # a folder of class folders, or a CSV file
_WINDOW_SOURCES = {"csv", "parquet", "npz", "synthetic"}  # rows data.windows can cut


def _kind(path: Path) -> str | None:
    """'file', 'dir', 'other' (FIFO, device, socket) or None when missing; never opens the path."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "other"


def _csv_header(path: Path, delimiter: str) -> list[str] | None:
    """The first row of a CSV file, reading at most HEADER_BYTES; None when it cannot be had."""
    if len(delimiter) != 1:
        return None  # the shape check or the reader reports the delimiter itself
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_BYTES)
    except OSError:
        return None
    if not head:
        return []
    text = head.decode("utf-8", errors="replace")
    line_end = text.find("\n")
    if line_end < 0 and len(head) == HEADER_BYTES:
        return None
    first = text if line_end < 0 else text[:line_end]
    row = next(_csv.reader(io.StringIO(first.lstrip("\ufeff").rstrip("\r")), delimiter=delimiter), [])
    return [c.strip() for c in row]


def _parquet_columns(path: Path) -> list[str] | None:
    try:
        import pyarrow.parquet as pq  # imported only for a spec that names a Parquet file
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    try:
        return list(pq.read_schema(path).names)
    except Exception:  # a broken file: the reader reports it with its own words at train
        return None


class _Feasibility:
    def __init__(self, spec: KerunSpec, doc: Document, spec_dir: Path) -> None:
        self.spec = spec
        self.doc = doc
        self.spec_dir = spec_dir
        self.problems: list[Problem] = []
        self.trains_itself = False

    def add(self, path: Sequence[str | int], message: str, *, hint: str | None = None, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, hint=hint, key=key))

    # -- data ----------------------------------------------------------------------------------

    def sources(self) -> Iterable[tuple[str, Any]]:
        data = self.spec.data
        if data is None:
            return
        yield "train", data.train
        for split in ("validation", "test"):
            source = getattr(data, split)
            if source is not None and getattr(source, "type", None):
                yield split, source

    def check_data(self) -> None:
        headers: dict[str, list[str]] = {}
        for split, source in self.sources():
            kind = getattr(source, "type", None)
            raw = getattr(source, "path", None)
            if kind is None or not isinstance(raw, str):
                continue
            where = ("data", split, "path")
            p = Path(raw).expanduser()
            path = p if p.is_absolute() else self.spec_dir / p
            found = _kind(path)
            if found is None:
                self.add(where, f"no such {'folder' if kind in _DIR_SOURCES else 'file'}: {raw!r}",
                         hint=None if p.is_absolute() else f"paths are relative to the spec's folder ({self.spec_dir})")
                continue
            wanted = {"file"} if kind in _FILE_SOURCES else {"dir"} if kind in _DIR_SOURCES else {"file", "dir"}
            if found not in wanted:
                what = {"dir": "a folder", "file": "a file", "other": "not a regular file (a FIFO, device or socket)"}[found]
                need = " or ".join({"file": "a regular file", "dir": "a folder"}[w] for w in sorted(wanted))
                article = "an" if kind[0] in "aeiou" or kind == "npz" else "a"
                self.add(where, f"{raw!r} is {what}; {article} {kind} source reads {need}")
                continue
            if not os.access(path, os.R_OK):
                self.add(where, f"{raw!r} cannot be read (permission denied)")
                continue
            columns = self.columns_of(source, kind, path, found)
            if columns is not None:
                headers[split] = columns
                self.check_source_columns(split, source, columns)
        if "train" in headers and getattr(self.spec.data.train, "type", None) in ("csv", "parquet"):
            self.check_field_columns(headers["train"])
        self.check_masks()
        self.check_windows(headers.get("train"))

    def check_masks(self) -> None:
        for split, source in self.sources():
            masks = getattr(source, "masks", None)
            if masks is None:
                continue
            p = Path(masks.path).expanduser()
            if _kind(p if p.is_absolute() else self.spec_dir / p) != "dir":
                self.add(("data", split, "masks", "path"), f"no such folder: {masks.path!r} (the masks of the images)",
                         hint=None if p.is_absolute() else f"paths are relative to the spec's folder ({self.spec_dir})")

    def check_windows(self, header: list[str] | None) -> None:
        """``data.windows``: a table read whole, its columns in the file, one scale per column."""
        data = self.spec.data
        windows = getattr(data, "windows", None)
        if windows is None:
            return
        for split, source in self.sources():
            kind = getattr(source, "type", None)
            if kind not in _WINDOW_SOURCES:
                self.add(("data", split, "type"), f"data.windows cuts the rows of a table or of arrays; {'an' if kind[0] in 'aeiou' else 'a'} {kind} source has none",
                         hint=f"use a {', '.join(sorted(_WINDOW_SOURCES))} source, or remove data.windows")
            elif getattr(source, "stream", None):
                self.add(("data", split, "stream"), "data.windows needs the whole series in memory: it cannot be streamed",
                         hint="remove 'stream: true'")
        if header:
            named = [("columns", i, c) for i, c in enumerate(windows.columns or [])]
            named += [("target", None, windows.target)] if isinstance(windows.target, str) else \
                [("target", i, c) for i, c in enumerate(windows.target or [])]
            for key, i, column in named:
                if column not in header:
                    at = ("data", "windows", key) if i is None else ("data", "windows", key, i)
                    self.add(at, f"no column {column!r} in {data.train.path}",
                             hint=did_you_mean(column, header) or f"its columns: {_listing(header)}")
        columns = windows.columns
        if columns is None or getattr(data.train, "type", None) not in ("csv", "parquet"):
            return  # an npz array may hold several columns: train counts them
        for name, ref in data.inputs.items():
            if isinstance(ref, str) or (ref.field or name) != windows.field or ref.columns is not None:
                continue
            for key in ("offset", "scale"):
                value = getattr(ref, key)
                if isinstance(value, list) and len(value) != len(columns):
                    self.add(("data", "inputs", name, key), f"{key} lists {len(value)} numbers for the {len(columns)} "
                             f"columns of data.windows ({', '.join(columns)})", hint="give one number per column, in their order")
                elif isinstance(value, dict):
                    for column in value:
                        if column not in columns:
                            self.add(("data", "inputs", name, key, column), f"{column!r} is not one of the columns of data.windows",
                                     hint=did_you_mean(column, columns) or f"the columns: {', '.join(columns)}", key=True)

    def columns_of(self, source: Any, kind: str, path: Path, found: str) -> list[str] | None:
        if kind == "csv" or (kind == "text" and found == "file"):
            if getattr(source, "header", True) is False:
                names = getattr(source, "names", None)
                return list(names) if names else None
            return _csv_header(path, getattr(source, "delimiter", ","))
        if kind == "parquet":
            return _parquet_columns(path)
        return None

    def check_source_columns(self, split: str, source: Any, header: list[str]) -> None:
        if not header:
            self.add(("data", split, "path"), f"{source.path!r} is empty: expected a header row naming the columns")
            return
        for i, column in enumerate(getattr(source, "columns", None) or []):
            if column not in header:
                self.add(("data", split, "columns", i), f"no column {column!r} in {source.path}",
                         hint=did_you_mean(column, header) or f"its columns: {_listing(header)}")
        for key in ("label", "column"):
            name = getattr(source, key, None)
            if isinstance(name, str) and name not in header:
                self.add(("data", split, key), f"no column {name!r} in {source.path}",
                         hint=did_you_mean(name, header) or f"its columns: {_listing(header)}")

    def check_field_columns(self, header: list[str]) -> None:
        """``inputs:``/``targets:`` entries that name columns of the train file directly."""
        data = self.spec.data
        assert data is not None
        source = data.train
        chosen = getattr(source, "columns", None)
        read = [c for c in chosen if c in header] if chosen else list(header)
        made = {data.windows.field, "target"} if data.windows is not None else set()  # fields the windows make
        for section in ("inputs", "targets"):
            for name, ref in getattr(data, section).items():
                if (ref if isinstance(ref, str) else ref.field) in made:
                    continue
                base: tuple[str | int, ...] = ("data", section) if name == "*" else ("data", section, name)
                if isinstance(ref, str):
                    if ref not in read:
                        self.add(base, f"no column {ref!r} in {source.path}",
                                 hint=did_you_mean(ref, read) or f"its columns: {_listing(read)}")
                    continue
                if ref.field is not None and ref.columns is None and ref.field not in read:
                    self.add((*base, "field"), f"no column {ref.field!r} in {source.path}",
                             hint=did_you_mean(ref.field, read) or f"its columns: {_listing(read)}")
                patterns = [ref.columns] if isinstance(ref.columns, str) else list(ref.columns or [])
                for i, pattern in enumerate(patterns):
                    if not fnmatch.filter(read, pattern):
                        at = (*base, "columns") if isinstance(ref.columns, str) else (*base, "columns", i)
                        self.add(at, f"no column of {source.path} matches {pattern!r}",
                                 hint=did_you_mean(pattern, read) or f"its columns: {_listing(read)}")

    # -- compile and distribution ------------------------------------------------------------

    def check_compile(self) -> None:
        c = self.spec.compile
        outputs = self.spec.model.output_names()
        # A spec with neither data: nor compile: describes a model (summary, plot, import); one
        # with either is meant to train, and training needs a loss.
        meant_to_train = isinstance(self.doc.data, dict) and ("data" in self.doc.data or "compile" in self.doc.data)
        if c.loss is None and meant_to_train and not self.trains_itself:
            self.add(("compile",), "training needs a loss, and compile.loss is not set",
                     hint="for example loss: sparse_categorical_crossentropy")
        elif isinstance(c.loss, dict) and set(c.loss) <= set(outputs):  # a key naming no output is reported already
            missing = [o for o in outputs if o not in c.loss]
            if missing:
                self.add(("compile", "loss"), f"no loss for the output{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(repr(m) for m in missing)}",
                         hint="give every output a loss: loss: {" + ", ".join(f"{o}: ..." for o in outputs) + "}")
        if self.spec.distribute.strategy == "multi_worker_mirrored":
            spe = c.steps_per_execution
            if spe not in ("auto", 1):
                self.add(("compile", "steps_per_execution"),
                         f"multi_worker_mirrored trains one step per call, got {spe}",
                         hint="remove steps_per_execution or set it to 1 or auto (Keras 3's multi-step loop fails across workers)")


def _listing(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" ... ({len(names) - limit} more)" if len(names) > limit else "")


def check_feasible(spec: KerunSpec, doc: Document, spec_dir: Path, *, skip: set[str] = frozenset(),
                   trains_itself: bool = False) -> list[Problem]:
    """Problems that training would meet before its first step, for the sections not in ``skip``
    (``trains_itself``: the model is a plugin Model with its own train_step, which needs no loss)."""
    checker = _Feasibility(spec, doc, spec_dir)
    checker.trains_itself = trains_itself
    if "data" not in skip:
        checker.check_data()
    if "compile" not in skip and "model" not in skip:
        checker.check_compile()
    return checker.problems
