"""The splits of a spec's data: train, validation and test datasets, ready for ``model.fit``.

CSV and Parquet files larger than :data:`STREAM_THRESHOLD` bytes (or with ``stream: true``) are
streamed: read in chunks with bounded memory, split by a seeded hash of the row number.
Everything else is read into memory once, split by a seeded (stratified) permutation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from kerun.data._common import Arrays, SourceContext
from kerun.data.class_weight import balanced_class_weight, binary_ids
from kerun.data.mapping import Mapped, Schema, resolve_plan, schema_of
from kerun.data.pipeline import StreamErrors, memory_dataset, split_indices, stream_dataset, to_structure
from kerun.data.sources import read_source, source_schema
from kerun.data.synthetic import synthetic_arrays as _synthetic_arrays
from kerun.data.windows import TARGET_FIELD, window_source, window_splits
from kerun.errors import DataError
from kerun.spec import LoadedSpec
from kerun.spec.data import SplitSpec

__all__ = ["Datasets", "load_datasets", "synthetic_arrays"]

ADAPT_BATCH = 1024
SYNTHETIC_SIZE = 256


@dataclass
class Datasets:
    """The splits of a spec's data, ready for ``model.fit``/``evaluate``.

    Iterate the splits inside ``errors.mapped()``: a DataError met while streaming a file (a ragged
    row) then surfaces as itself, not as the TensorFlow error tf.data wraps it in.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset | None
    sizes: dict[str, int | None]
    adapt: Callable[[], tf.data.Dataset]
    class_names: list[str] | None = None
    num_classes: dict[str, int] = field(default_factory=dict)
    errors: StreamErrors = field(default_factory=StreamErrors)
    class_weight: dict[int, float] | None = None
    """``train.class_weight: balanced`` computed on the training split (None otherwise)."""


# ---------------------------------------------------------------------------------------------
# the splits


def _class_ids(mapped: Any, outs: list[str]) -> np.ndarray | None:
    """One class id per row when the single target is class labels (ids or one-hot rows)."""
    if len(outs) != 1:
        return None
    y = np.asarray(mapped.y[outs[0]])
    if y.ndim == 2 and y.shape[1] > 1 and np.issubdtype(y.dtype, np.floating) and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
        return y.argmax(axis=1)
    if np.issubdtype(y.dtype, np.integer) and y.reshape(len(y), -1).shape[1] == 1:
        return y.reshape(-1)
    return None


def _split_fractions(data: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in ("test", "validation"):  # test is taken first
        held = getattr(data, name)
        if isinstance(held, SplitSpec):
            out[name] = held.split
    return out


def _check_fractions(loaded: LoadedSpec, fractions: dict[str, float], n: int | None) -> None:
    total = sum(fractions.values())
    where = ("data", "validation") if "validation" in fractions else ("data", "test")
    if total >= 1:
        raise DataError(f"the held-out splits take {total:g} of the training data, leaving nothing to train on",
                        location=loaded.doc.locate(where), path=where, hint="make validation and test fractions sum to less than 1")
    if n is not None:
        taken = sum(max(1, int(round(n * f))) for f in fractions.values())
        if n - taken < 1:
            raise DataError(f"the training source has {n} examples: after holding out {taken} for "
                            f"{' and '.join(fractions)} none are left to train on",
                            location=loaded.doc.locate(where), path=where, hint="use more data or smaller split fractions")


def windowed_schema(arrays: Arrays, windows: Any, step_columns: list[str]) -> Schema:
    """The fields of windowed data: the window (its last axis named by the step's columns) and
    the target, which is the label."""
    schema = schema_of(arrays.fields, TARGET_FIELD if TARGET_FIELD in arrays.fields else None, tabular=True)
    schema.columns_of[windows.field] = list(step_columns)
    return schema


def load_datasets(loaded: LoadedSpec, built: Any, *, limit: int | None = None, synthetic: bool = False,
                  shuffle_seed: int | None = None) -> Datasets:
    """The train / validation / test datasets of ``loaded``'s ``data:`` section for ``built``'s model.

    ``limit`` reads at most that many rows from each source (smoke checks); ``synthetic`` ignores
    the sources and generates random data shaped like the model; ``shuffle_seed`` overrides the
    spec's seed for the order of training batches. Splits always use the spec's seed (0 if none).
    """
    spec = loaded.spec
    batch_size = spec.train.batch_size
    seed = spec.seed if spec.seed is not None else 0
    sseed = shuffle_seed if shuffle_seed is not None else spec.seed
    data = spec.data
    ins, outs = list(built.input_names), list(built.output_names)
    if synthetic:
        return _synthetic_datasets(loaded, built, limit, seed, sseed)
    if data is None:
        raise DataError("the spec has no 'data:' section", location=loaded.doc.locate(()), path=(),
                        hint="add one, or run with --synthetic to use random data shaped like the model")

    shuffle = spec.train.shuffle
    buffer = data.shuffle_buffer
    errors = StreamErrors()
    fractions = _split_fractions(data)
    train_ctx = SourceContext(loaded, ("data", "train"), data.train)
    train_data, class_names = read_source(train_ctx, limit)
    class_names = class_names or train_ctx.extra.get("class_names")
    windowed: dict[str, Arrays] | None = None
    if data.windows is not None:  # time series: split by time, then windowed span by span
        if isinstance(train_data, Arrays):
            _check_fractions(loaded, fractions, len(train_data))
        windowed, step_columns = window_splits(train_ctx, train_data, data.windows, fractions)
        train_data, fractions = windowed["train"], {}  # the hold-outs are windowed already
        schema = windowed_schema(windowed["train"], data.windows, step_columns)
    else:
        schema = source_schema(train_ctx, train_data)
    train_plan = resolve_plan(train_ctx, schema, loaded, built)
    num_classes = dict(train_plan.num_classes)

    datasets: dict[str, tf.data.Dataset | None] = {"train": None, "validation": None, "test": None}
    sizes: dict[str, int | None] = {}
    adapt: Callable[[], tf.data.Dataset]
    class_weight: dict[int, float] | None = None

    if isinstance(train_data, Arrays):
        _check_fractions(loaded, fractions, len(train_data))
        if windowed is not None:
            parts: dict[str, Mapped] = {name: train_plan.apply(a.fields) for name, a in windowed.items()}
        else:
            parts = {"train": train_plan.apply(train_data.fields)}
        del train_data
        if fractions:
            mapped = parts["train"]
            idx = split_indices(len(mapped), fractions, seed, labels=_class_ids(mapped, outs))
            parts = {name: mapped.take(i) for name, i in idx.items()}
            del mapped
        for name, part in parts.items():
            sizes[name] = len(part)
            datasets[name] = memory_dataset(to_structure(part, ins, outs), len(part), batch_size=batch_size,
                                            shuffle=shuffle and name == "train", buffer=buffer, seed=sseed)
        if spec.train.class_weight == "balanced":
            ids = _class_ids(parts["train"], outs)
            class_weight = balanced_class_weight(loaded, ids if ids is not None else binary_ids(parts["train"], outs))
        train_x = to_structure(parts["train"], ins, outs, x_only=True)
        n_train = len(parts["train"])
        adapt = lambda: memory_dataset(train_x, n_train, batch_size=max(batch_size, ADAPT_BATCH))  # noqa: E731
    else:
        _check_fractions(loaded, fractions, None)
        if spec.train.class_weight == "balanced":
            raise DataError("class_weight: balanced counts the training split's classes, and this source is streamed",
                            location=loaded.doc.locate(("train", "class_weight")), path=("train", "class_weight"),
                            hint="give the weights as a mapping class id -> weight, or read the source whole (stream: false)")
        intervals: dict[str, tuple[float, float]] = {}
        lo = 0.0
        for name, frac in fractions.items():
            intervals[name] = (lo, lo + frac)
            lo += frac
        intervals["train"] = (lo, 1.0)
        stream = train_data
        common = dict(errors=errors, seed=seed, input_names=ins, output_names=outs, batch_size=batch_size, cache=bool(data.cache))
        for name, iv in intervals.items():
            datasets[name] = stream_dataset(stream, train_plan, interval=iv if fractions else None,
                                            shuffle=shuffle and name == "train", buffer=buffer, shuffle_seed=sseed, **common)
            sizes[name] = None
        train_iv = intervals["train"] if fractions else None
        adapt = lambda: stream_dataset(stream, train_plan, errors=errors, interval=train_iv, seed=seed, input_names=ins,  # noqa: E731
                                       output_names=outs, batch_size=max(batch_size, ADAPT_BATCH), x_only=True)

    for name in ("validation", "test"):
        held = getattr(data, name)
        if held is None or isinstance(held, SplitSpec):
            continue
        ctx = SourceContext(loaded, ("data", name), held)
        got, _ = read_source(ctx, limit)
        if data.windows is not None:
            got = window_source(ctx, got, data.windows, name)
            plan = resolve_plan(ctx, windowed_schema(got, data.windows, step_columns), loaded, built)
        else:
            plan = resolve_plan(ctx, source_schema(ctx, got), loaded, built)
        if isinstance(got, Arrays):
            part = plan.apply(got.fields)
            sizes[name] = len(part)
            datasets[name] = memory_dataset(to_structure(part, ins, outs), len(part), batch_size=batch_size)
        else:
            sizes[name] = None
            datasets[name] = stream_dataset(got, plan, errors=errors, interval=None, seed=seed, input_names=ins, output_names=outs,
                                            batch_size=batch_size)
    if sizes.get("train") == 0:
        raise DataError("the training split is empty", location=loaded.doc.locate(("data", "train")), path=("data", "train"))
    assert datasets["train"] is not None
    return Datasets(train=datasets["train"], validation=datasets["validation"], test=datasets["test"],
                    sizes={k: sizes.get(k) for k in ("train", "validation", "test") if datasets[k] is not None},
                    adapt=adapt, class_names=class_names, num_classes=num_classes, errors=errors, class_weight=class_weight)


def _sparse_outputs(loaded: LoadedSpec, output_names: list[str]) -> set[str]:
    loss = loaded.spec.compile.loss

    def sparse(obj: Any) -> bool:
        if isinstance(obj, str):
            return "sparse" in obj.lower()
        if isinstance(obj, dict) and isinstance(obj.get("type"), str):
            return "sparse" in obj["type"].lower()
        return False

    if isinstance(loss, dict) and "type" not in loss:
        return {k for k, v in loss.items() if sparse(v)}
    if isinstance(loss, list):
        return {n for n, v in zip(output_names, loss) if sparse(v)}
    return set(output_names) if sparse(loss) else set()


def _synthetic_datasets(loaded: LoadedSpec, built: Any, limit: int | None, seed: int, sseed: int | None) -> Datasets:
    spec = loaded.spec
    outs = list(built.output_names)
    size = limit or SYNTHETIC_SIZE
    sparse = _sparse_outputs(loaded, outs)
    bs = spec.train.batch_size
    sizes: dict[str, int | None] = {}
    made: dict[str, tf.data.Dataset | None] = {"validation": None, "test": None}
    x, y = synthetic_arrays(built, size, seed, sparse=sparse)
    sizes["train"] = size
    train = memory_dataset((x, y), size, batch_size=bs, shuffle=spec.train.shuffle, seed=sseed)
    for i, name in enumerate(("validation", "test"), start=1):
        if spec.data is not None and getattr(spec.data, name) is not None:
            n = max(1, size // 4)
            made[name] = memory_dataset(synthetic_arrays(built, n, seed + i, sparse=sparse), n, batch_size=bs)
            sizes[name] = n
    return Datasets(train=train, validation=made["validation"], test=made["test"], sizes=sizes,
                    adapt=lambda: memory_dataset(x, size, batch_size=max(bs, ADAPT_BATCH)),
                    class_names=None, num_classes={})


def synthetic_arrays(built: Any, size: int, seed: int, *, sparse: Any = ()) -> tuple[Any, Any]:
    """Random ``(x, y)`` shaped like ``built``'s model (for ``kerun check --synthetic``).

    x follows the declared inputs (floats uniform in [0, 1), integers in {0, 1}, strings from a small
    vocabulary); y follows the output shapes (0/1 for one-unit outputs, one-hot rows for wider
    outputs, or class ids for the outputs named in ``sparse``). Single arrays for single-input or
    single-output models, else dicts keyed by name.
    """
    return _synthetic_arrays(built, size, seed, sparse=sparse)
