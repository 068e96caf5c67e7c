"""Reading one source of a spec's ``data:`` section: a table of readers, one per source type.

A reader takes the source's :class:`SourceContext`, a row limit and whether to stream, and returns
the data (:class:`Arrays` in memory, or a :class:`TableStream` for large tables) and the class
names when the source knows them (folder sources, scikit-learn classification sets). A new source
type is one entry in :data:`READERS`, its spec class in :mod:`kerun.spec.data`, and its module.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from kerun.data._common import Arrays, SourceContext, TableStream
from kerun.data.mapping import Schema, schema_of

__all__ = ["READERS", "STREAM_THRESHOLD", "read_source", "source_schema"]

STREAM_THRESHOLD = 256 * 1024 * 1024
"""CSV/Parquet files larger than this many bytes are streamed (unless the source says ``stream:``)."""

Read = tuple[Arrays | TableStream, list[str] | None]
Reader = Callable[[SourceContext, "int | None", bool], Read]

STREAMABLE = frozenset({"csv", "parquet"})
"""Source types that can be streamed in chunks."""


def _csv(ctx: SourceContext, limit: int | None, streaming: bool) -> Read:
    from kerun.data.csv import read_csv, stream_csv

    return (stream_csv(ctx, limit=limit) if streaming else _label_names(ctx, read_csv(ctx, limit))), None


def _parquet(ctx: SourceContext, limit: int | None, streaming: bool) -> Read:
    from kerun.data.parquet import read_parquet, stream_parquet

    return (stream_parquet(ctx, limit=limit) if streaming else _label_names(ctx, read_parquet(ctx, limit))), None


def _npz(ctx: SourceContext, limit: int | None, streaming: bool) -> Read:
    from kerun.data.npz import read_npz

    return read_npz(ctx, limit), None


def _images(ctx: SourceContext, limit: int | None, streaming: bool) -> Read:
    from kerun.data.images import read_images

    return read_images(ctx, limit)


def _text(ctx: SourceContext, limit: int | None, streaming: bool) -> Read:
    from kerun.data.text import read_text

    arrays, names = read_text(ctx, limit)
    if names is None:
        arrays = _label_names(ctx, arrays)
        names = ctx.extra.get("class_names")
    return arrays, names


def _sklearn(ctx: SourceContext, limit: int | None, streaming: bool) -> Read:
    from kerun.data.sklearn_data import read_sklearn

    return read_sklearn(ctx, limit)


def _keras(ctx: SourceContext, limit: int | None, streaming: bool) -> Read:
    from kerun.data.keras_cache import read_keras

    return read_keras(ctx, limit)


def _synthetic(ctx: SourceContext, limit: int | None, streaming: bool) -> Read:
    from kerun.data.synthetic import read_synthetic

    seed = ctx.loaded.spec.seed if ctx.loaded is not None else None
    return read_synthetic(ctx, limit, default_seed=seed), None


READERS: dict[str, Reader] = {
    "csv": _csv,
    "parquet": _parquet,
    "npz": _npz,
    "images": _images,
    "text": _text,
    "sklearn": _sklearn,
    "keras": _keras,
    "synthetic": _synthetic,
}
"""Source type -> reader; the keys are :data:`kerun.spec.data.SOURCE_TYPES`."""


def _wants_stream(ctx: SourceContext) -> bool:
    spec = ctx.spec
    if spec.type not in STREAMABLE:
        return False
    explicit = getattr(spec, "stream", None)
    if explicit is not None:
        return bool(explicit)
    return ctx.file().stat().st_size > STREAM_THRESHOLD


def read_source(ctx: SourceContext, limit: int | None = None, *, stream: bool | None = None) -> Read:
    """Read one source: in memory as :class:`Arrays`, or a :class:`TableStream` for big tables.

    ``stream`` forces streaming on or off for the types that can stream (by default: the source's
    ``stream:`` key, else the file's size). Returns the data and the class names, when known.
    """
    spec = ctx.spec
    reader = READERS.get(spec.type)
    if reader is None:  # pragma: no cover - validated by the spec
        raise ctx.error(f"unknown source type {spec.type!r}", "type")
    streaming = _wants_stream(ctx) if stream is None else (stream and spec.type in STREAMABLE)
    return reader(ctx, _min(spec.limit, limit), streaming)


def _min(*values: int | None) -> int | None:
    found = [v for v in values if v is not None]
    return min(found) if found else None


def _label_names(ctx: SourceContext, arrays: Arrays) -> Arrays:
    """A label column of class names becomes class ids (sorted names); the names go to ``ctx.extra``."""
    label = ctx.spec.label
    if label and label in arrays.fields and arrays.fields[label].dtype == object:
        names, ids = np.unique(arrays.fields[label].astype(str), return_inverse=True)
        ctx.extra["class_names"] = [str(n) for n in names]
        fields = dict(arrays.fields)
        fields[label] = ids.astype(np.int32)
        return Arrays(fields)
    return arrays


def source_schema(ctx: SourceContext, data: Arrays | TableStream) -> Schema:
    """The fields a source read yields, with their shapes and dtypes, for the field mapping."""
    label = ctx.spec.label
    masks = getattr(ctx.spec, "masks", None)
    if label is None and masks is not None:  # segmentation: the mask is the per-pixel label
        label = masks.field
    if isinstance(data, TableStream):
        return Schema({c: () for c in data.columns}, dict(data.dtypes), label, tabular=True)
    return schema_of(data.fields, label, tabular=ctx.spec.type in STREAMABLE)
