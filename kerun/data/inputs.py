"""Model inputs for ``kerun predict``: any source type training reads, as a file, a folder, a
YAML file holding one source, or a source mapping.

A bare file or folder is read the way the run's training source is read when it is of a kind that
source can read (a CSV with the training CSV's delimiter, header and names; a folder of images at
the training image size; a text folder or CSV with its column), else by its extension. The fields
then map to the model's inputs exactly as in training (the run's ``data.inputs``: columns,
scaling, reshape, dtype); label and target columns are ignored. With ``data.windows`` a table is
cut into windows as in training (each window to the table's last row, no target needed), and a
file that holds the window field already (an ``.npz`` of windows) is read as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tensorflow as tf
from pydantic import TypeAdapter, ValidationError

from kerun.data._common import Arrays, SourceContext
from kerun.data.mapping import Plan, resolve_plan
from kerun.data.pipeline import StreamErrors, memory_dataset, stream_dataset, to_structure
from kerun.data.sources import read_source, source_schema
from kerun.errors import DataError
from kerun.spec import LoadedSpec
from kerun.spec.data import _SOURCE_CLASSES as _SOURCE_PAIRS, Source
from kerun.spec.suggest import did_you_mean
from kerun.spec.loader import Document

__all__ = ["Inputs", "read_inputs"]


@dataclass
class Inputs:
    """Batched model inputs; iterate ``dataset`` inside ``errors.mapped()`` (see :class:`StreamErrors`)."""

    dataset: tf.data.Dataset
    size: int | None
    errors: StreamErrors = field(default_factory=StreamErrors)


_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}
_YAML = (".yaml", ".yml")
_SOURCE_CLASSES = {tag: cls for cls, tag in _SOURCE_PAIRS}
_READS_FOLDER = ("images", "text")
_READS_CSV = ("csv", "text")  # a text source reads a CSV file too (with column:)


class _InputContext(SourceContext):
    """A predict source: its paths resolve from ``base`` (a YAML source's folder, else the working
    directory), its errors point into ``doc`` (the YAML source's file) when there is one."""

    def __init__(self, spec: Any, base: Path, doc: Document | None) -> None:
        super().__init__(None, (), spec)
        self.base, self.doc = base, doc

    def locate(self, *keys: str | int):
        return self.doc.locate(keys) if self.doc is not None else None

    def resolve(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.base / p


def _source_from_path(train: Any, p: Path) -> dict[str, Any]:
    """The source mapping for a bare file or folder: the training source's kind and options when it
    reads this kind of path, else the kind the extension says."""
    train_type = getattr(train, "type", None)
    inherit = train.model_dump(exclude_none=True, exclude={"limit", "stream"}) if train_type else {}
    if inherit.get("columns") and inherit.get("label") in inherit["columns"]:  # a file to predict may lack the label
        inherit["columns"] = [c for c in inherit["columns"] if c != inherit["label"]]
    suffix = p.suffix.lower()
    if p.is_dir():
        if train_type in _READS_FOLDER:
            return {**inherit, "path": str(p)}
        raise DataError(f"{p} is a folder: a folder is read as images or text, but the run's training source is {train_type or 'none'}",
                        hint="give a file (.csv, .tsv, .parquet, .npz) or a YAML file with one data source")
    kind = _EXTENSIONS.get(suffix)
    if kind is None:
        raise DataError(f"cannot tell the format of {p}: expected .csv, .tsv, .parquet, .npz, a folder, or a .yaml source",
                        hint="write a YAML file with one source, such as {type: csv, path: ..., delimiter: ';'}")
    if kind == "csv" and train_type in _READS_CSV:
        mapping = {**inherit, "path": str(p)}
        if train_type == "csv" and suffix == ".tsv" and "delimiter" not in train.model_fields_set:
            mapping["delimiter"] = "\t"
        return mapping
    if kind == train_type:
        return {**inherit, "path": str(p)}
    mapping = {"type": kind, "path": str(p)}
    if kind == "csv" and suffix == ".tsv":
        mapping["delimiter"] = "\t"
    label = getattr(train, "label", None)
    if label and kind in ("csv", "parquet"):
        mapping["label"] = label
    return mapping


def _validated(mapping: Any, doc: Document | None, what: str) -> Any:
    """The source spec of ``mapping``; what is wrong with it is an error at its line in ``doc``."""
    from kerun.errors import SpecError

    if not isinstance(mapping, dict):
        raise DataError(f"{what} must be one data source, a mapping such as {{type: csv, path: new.csv}}",
                        location=doc.locate(()) if doc is not None else None)
    try:
        return TypeAdapter(Source).validate_python(dict(mapping))
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(err["loc"])
            loc = loc[1:] if loc and loc[0] == mapping.get("type") else loc  # the union's tag is no key of the file
            hint = "a source needs 'type:' (csv, parquet, npz, images, text, ...) and that type's keys"
            message = f"{what}: {err['msg']}"
            if err["type"] == "extra_forbidden" and loc:
                cls = _SOURCE_CLASSES.get(mapping.get("type"))
                known = sorted(cls.model_fields) if cls is not None else []
                message = f"{what}: unknown key {loc[-1]!r}"
                hint = did_you_mean(str(loc[-1]), known) or f"the keys of a {mapping.get('type')} source: {', '.join(known)}"
            if doc is None:
                message = f"{what}: {'.'.join(map(str, loc)) + ': ' if loc else ''}{message[len(what) + 2:]}"
            if doc is None:
                raise DataError(message, hint=hint) from None
            problems.append(doc.problem(loc, message, hint=hint))
        raise SpecError.from_problems(problems) from None


def read_inputs(loaded: LoadedSpec, built: Any, source: dict | str | Path, *, batch_size: int) -> Inputs:
    """Batched model inputs (x only) for ``kerun predict``.

    ``source`` is a file or folder (relative to the working directory), a YAML file holding one
    source mapping (its paths relative to that file), or a mapping in the spec's source format
    (paths relative to the run's spec). Every source type training reads is read the same way;
    CSV and Parquet are streamed with bounded memory. The number of examples is known for sources
    read into memory.
    """
    from kerun.spec.loader import load_document

    ins, outs = list(built.input_names), list(built.output_names)
    train = loaded.spec.data.train if loaded.spec.data is not None else None
    label_hint = getattr(train, "label", None)
    ctx: SourceContext
    if isinstance(source, dict):
        ctx = SourceContext(loaded, ("input",), _validated(source, None, "the input source"))
    else:
        p = Path(source).expanduser()
        if p.suffix.lower() in _YAML and p.is_file():
            doc = load_document(p)
            ctx = _InputContext(_validated(doc.data, doc, "the input source"), p.resolve().parent, doc)
        else:
            ctx = _InputContext(_validated(_source_from_path(train, p.resolve()), None, f"the input {p}"), Path.cwd(), None)
    windows = getattr(loaded.spec.data, "windows", None)
    got, _ = read_source(ctx, None, stream=windows is None)
    if windows is not None and isinstance(got, Arrays) and windows.field not in got.fields:
        # a table of rows, as the run trained on: cut into windows (every window, to the last row:
        # a prediction needs no target), else the file holds windows already
        from kerun.data.windows import window_splits

        parts, step_columns = window_splits(ctx, got, windows.model_copy(update={"target": None}), {}, whole="input")
        got = parts["train"]
        schema = source_schema(ctx, got)
        schema.columns_of[windows.field] = step_columns
    else:
        schema = source_schema(ctx, got)
    if schema.label is not None and schema.label not in schema.shapes:
        schema.label = None
    plan = resolve_plan(ctx, schema, loaded, built, targets=False, label_hint=label_hint)
    if isinstance(got, Arrays):
        mapped = Plan(plan.ctx, plan.inputs, [], None, plan.schema).apply(got.fields)
        return Inputs(memory_dataset(to_structure(mapped, ins, outs, x_only=True), len(mapped), batch_size=batch_size), len(mapped))
    errors = StreamErrors()
    ds = stream_dataset(got, plan, errors=errors, interval=None, seed=0, input_names=ins, output_names=outs,
                        batch_size=batch_size, x_only=True)
    return Inputs(ds, got.num_rows, errors)
