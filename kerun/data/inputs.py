"""Model inputs for ``kerun predict`` (and ``kerun eval --data``): a file or a source mapping.

The fields of the source map to the model's inputs exactly as in training (the run's
``data.inputs``: columns, scaling, reshape, dtype); label and target columns are ignored.
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
from kerun.spec.data import SplitSpec

__all__ = ["Inputs", "read_inputs"]


@dataclass
class Inputs:
    """Batched model inputs; iterate ``dataset`` inside ``errors.mapped()`` (see :class:`StreamErrors`)."""

    dataset: tf.data.Dataset
    size: int | None
    errors: StreamErrors = field(default_factory=StreamErrors)


_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}


def read_inputs(loaded: LoadedSpec, built: Any, source: dict | str | Path, *, batch_size: int) -> Inputs:
    """Batched model inputs (x only) from a file or a source mapping, for ``kerun predict``.

    ``source`` is a path (``.csv``/``.tsv``, ``.parquet``/``.pq`` or ``.npz``, relative to the
    working directory) or a mapping in the spec's source format (paths relative to the spec). Fields
    map to inputs exactly as in training (``data.inputs``, scaling, reshape, dtype); label and target
    columns are ignored. CSV and Parquet are streamed with bounded memory. The number of examples
    is known for sources read into memory.
    """
    from kerun.spec.data import HeldOut

    ins, outs = list(built.input_names), list(built.output_names)
    train = loaded.spec.data.train if loaded.spec.data is not None else None
    label_hint = getattr(train, "label", None)
    if isinstance(source, (str, Path)):
        p = Path(source).expanduser()
        kind = _EXTENSIONS.get(p.suffix.lower())
        if kind is None:
            raise DataError(f"cannot tell the format of {p}: expected .csv, .tsv, .parquet or .npz",
                            hint="pass a source mapping such as {type: csv, path: ...} instead")
        mapping: dict[str, Any] = {"type": kind, "path": str(p.resolve())}
        if kind == "csv" and p.suffix.lower() == ".tsv":
            mapping["delimiter"] = "\t"
        if kind == "csv" and isinstance(train, type(None)) is False and getattr(train, "type", None) == "csv":
            mapping["delimiter"] = mapping.get("delimiter", train.delimiter)
        if label_hint and kind in ("csv", "parquet"):
            mapping["label"] = label_hint
        source = mapping
        ctx_loaded: LoadedSpec | None = None
    else:
        ctx_loaded = loaded
    try:
        spec = TypeAdapter(HeldOut).validate_python(dict(source))
    except ValidationError as e:
        raise DataError(f"not a data source: {e.errors()[0]['msg']}", hint="a source needs 'type:' and that type's keys") from None
    if isinstance(spec, SplitSpec):
        raise DataError("a split of the training data is not an input source for prediction")
    ctx = SourceContext(ctx_loaded, ("input",), spec)
    if ctx_loaded is None:
        ctx.loaded = None
    got, _ = read_source(ctx, None, stream=spec.type in ("csv", "parquet"))
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
