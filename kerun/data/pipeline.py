"""tf.data pipelines: in-memory splits by index, and streamed tables chunk by chunk.

In memory, a split is held once as tensors; a dataset of example *indices* is shuffled (seeded),
batched, and each batch is gathered with one ``tf.gather`` per field, so shuffling never keeps a
second copy of the data and no per-example Python runs. Streamed files are parsed per chunk in a
generator or, for CSV, in a parallel ``map`` over raw blocks (vectorised); rows are assigned to
splits by a seeded hash of their row number (stable across epochs), shuffled within their block
(or in a bounded buffer), batched and prefetched.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from typing import Any, Callable, Iterator

import numpy as np
import tensorflow as tf

from kerun.data._common import ALIGN, ALIGN_FROM, TableStream
from kerun.data.mapping import Mapped, Plan
from kerun.errors import DataError

__all__ = ["STREAM_SHUFFLE_BUFFER", "StreamErrors", "hash_unit", "memory_dataset", "split_indices", "stream_dataset"]

class StreamErrors:
    """The DataErrors raised while reading the streamed datasets of one owner (a :class:`Datasets`,
    predict's inputs), kept by that owner instead of in a module global.

    tf.data turns an exception raised inside a generator or a ``numpy_function`` into a
    ``tf.errors.OpError`` that keeps only its text; the pipeline records the located DataError
    here before it is lost, and :meth:`mapped` turns the TensorFlow error back into it::

        with data.errors.mapped():
            model.fit(data.train, ...)
    """

    KEEP = 8

    def __init__(self) -> None:
        self._seen: list[DataError] = []

    def record(self, error: DataError) -> None:
        self._seen = [*self._seen[-(self.KEEP - 1):], error]

    def cause(self, exc: BaseException) -> DataError | None:
        """The DataError behind ``exc`` (an error raised while iterating one of the owner's
        datasets), or None when ``exc`` has another cause."""
        if isinstance(exc, DataError):
            return exc
        text = str(exc)
        for err in reversed(self._seen):
            if err.message in text:
                return err
        return None

    @contextlib.contextmanager
    def mapped(self) -> Iterator[None]:
        """Re-raise a TensorFlow error caused by a DataError of these datasets as that DataError;
        any other error propagates unchanged."""
        try:
            yield
        except tf.errors.OpError as exc:
            cause = self.cause(exc)
            if cause is None:
                raise
            raise cause from None


STREAM_SHUFFLE_BUFFER = 10_000
"""Examples in the shuffle buffer of a streamed split unless data.shuffle_buffer says otherwise."""

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def hash_unit(rows: np.ndarray, seed: int) -> np.ndarray:
    """A number in [0, 1) for each row number: splitmix64 of (seed, row), vectorised."""
    with np.errstate(over="ignore"):
        z = rows.astype(np.uint64) + np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def split_indices(n: int, fractions: dict[str, float], seed: int, labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Seeded permutation of ``n`` rows; held-out splits taken in the order given (test before
    validation), the rest is ``train``. Each split's rows keep their original order. A held-out
    split of fraction ``f`` holds ``ceil(f * n)`` rows, as scikit-learn's ``train_test_split``.

    With ``labels`` (one class id per row) the splits are stratified: the rows each class gives
    each split are allocated as scikit-learn's ``train_test_split(stratify=...)`` allocates them
    (its ``_approximate_mode``, largest remainders first), so the split sizes are the same as
    without labels, however many small classes there are."""
    rng = np.random.default_rng(seed)
    sizes = {name: max(1, math.ceil(frac * n)) for name, frac in fractions.items()}
    out: dict[str, np.ndarray] = {}
    if labels is None or len(labels) != n:
        order = rng.permutation(n)
        start = 0
        for name, k in sizes.items():
            out[name] = order[start:start + k]
            start += k
        out["train"] = order[start:]
    else:
        order = rng.permutation(n)
        classes = np.unique(labels)
        groups = [order[labels[order] == c] for c in classes]
        left = np.array([len(g) for g in groups])
        taken = np.zeros(len(groups), dtype=int)
        parts: dict[str, list[np.ndarray]] = {}
        for name, k in sizes.items():
            k = min(k, int(left.sum()))
            keep = approximate_mode(left, int(left.sum()) - k, rng)
            held = approximate_mode(left - keep, k, rng)
            parts[name] = [g[t:t + h] for g, t, h in zip(groups, taken, held)]
            taken += held
            left -= held
        out = {name: np.concatenate(p) if p else np.array([], dtype=int) for name, p in parts.items()}
        out["train"] = np.concatenate([g[t:] for g, t in zip(groups, taken)])
    return {name: np.sort(idx) for name, idx in {**{k: out[k] for k in fractions}, "train": out["train"]}.items()}


def approximate_mode(counts: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """How many of ``draws`` rows each class gives (scikit-learn's ``_approximate_mode``): the
    floor of its share, then one more for the classes with the largest remainders, ties drawn."""
    total = counts.sum()
    if total == 0 or draws <= 0:
        return np.zeros_like(counts)
    continuous = counts * draws / total
    floored = np.floor(continuous).astype(int)
    need = draws - int(floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (index,) = np.where(remainder == value)
            add = min(len(index), need)
            floored[rng.choice(index, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored


def to_structure(mapped: Mapped, input_names: list[str], output_names: list[str], x_only: bool = False) -> Any:
    """(x, y) or (x, y, sample_weight), single arrays for single-input/-output models, else dicts."""
    x: Any = mapped.x[input_names[0]] if len(input_names) == 1 else {k: mapped.x[k] for k in input_names}
    if x_only or not output_names:  # a model that trains itself takes its inputs alone
        return x
    y: Any = mapped.y[output_names[0]] if len(output_names) == 1 else {k: mapped.y[k] for k in output_names}
    return (x, y) if mapped.sw is None else (x, y, mapped.sw)


_SHARED_KINDS = "fiu"


def _tensor(a: np.ndarray) -> tf.Tensor:
    """``a`` as a tensor; a large, aligned, contiguous numeric array shares its memory (DLPack)
    instead of being copied: no second copy of the data, no seconds of page faults before the
    first step."""
    if a.dtype == object:
        return tf.constant(a.astype(str).astype(object) if a.size and not isinstance(a.flat[0], (str, bytes)) else a, dtype=tf.string)
    if (a.nbytes >= ALIGN_FROM and a.dtype.kind in _SHARED_KINDS and a.dtype.isnative and a.flags.c_contiguous
            and a.flags.writeable and a.ctypes.data % ALIGN == 0):
        # TensorFlow needs ALIGN-byte aligned memory (it aborts on an unaligned DLPack tensor).
        return tf.experimental.dlpack.from_dlpack(a.__dlpack__())
    return tf.convert_to_tensor(a)


def memory_dataset(structure: Any, size: int, *, batch_size: int, shuffle: bool = False, buffer: int | None = None,
                   seed: int | None = None) -> tf.data.Dataset:
    """Batches of ``structure`` (nested numpy arrays with ``size`` rows), shuffled by index when asked."""
    tensors = tf.nest.map_structure(_tensor, structure)
    ds = tf.data.Dataset.range(size)
    if shuffle and size > 1:
        ds = ds.shuffle(min(buffer or size, size), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda idx: tf.nest.map_structure(lambda t: tf.gather(t, idx), tensors),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _spec_of(a: np.ndarray, free: tuple[int | None, ...] | None = None) -> tf.TensorSpec:
    dtype = tf.string if a.dtype == object else tf.as_dtype(a.dtype)
    shape = list(a.shape[1:])
    if free is not None and len(free) == len(shape):
        shape = [None if f is None else s for s, f in zip(shape, free)]
    return tf.TensorSpec(shape=(None, *shape), dtype=dtype)


def stream_dataset(stream: TableStream, plan: Plan, *, errors: StreamErrors, interval: tuple[float, float] | None, seed: int,
                   input_names: list[str], output_names: list[str], batch_size: int, x_only: bool = False,
                   shuffle: bool = False, buffer: int | None = None, shuffle_seed: int | None = None,
                   cache: bool = False) -> tf.data.Dataset:
    """A streamed split: rows whose hash falls in ``interval`` (all rows if None), read block by block.

    With a stream that offers raw blocks (CSV), blocks are parsed and mapped in parallel
    (``tf.numpy_function`` in a deterministic parallel ``map``; pandas releases the GIL while it
    parses) and a shuffled split is shuffled within each block, seeded per epoch, then cut into
    batches with ``rebatch``: no per-example work in Python or tf.data. ``buffer`` (the spec's
    ``data.shuffle_buffer``) or ``cache`` adds an example-level shuffle buffer on top. A DataError
    raised while reading (a ragged row) is recorded in ``errors``, whose owner maps it back.
    """
    if x_only:
        plan = Plan(plan.ctx, plan.inputs, [], None, plan.schema)
    needed = plan.needed()
    limit = stream.limit
    empty = to_structure(plan.empty(), input_names, output_names, x_only)
    signature = tf.nest.map_structure(_spec_of, empty)

    def select(chunk: dict[str, np.ndarray], offset: int) -> Any | None:
        """The mapped structure of the chunk's rows in this split (None if none are)."""
        n = len(next(iter(chunk.values())))
        if limit is not None and offset + n > limit:
            n = max(0, limit - offset)
            chunk = {k: v[:n] for k, v in chunk.items()}
        rows = None  # the file rows of the chunk's rows, when the split keeps only some of them
        if interval is not None and n:
            u = hash_unit(np.arange(offset, offset + n), seed)
            mask = (u >= interval[0]) & (u < interval[1])
            chunk = {k: v[mask] for k, v in chunk.items()}
            rows = offset + np.flatnonzero(mask)
        if not n or not len(next(iter(chunk.values()))):
            return None
        return to_structure(plan.apply(chunk, row_offset=offset, rows=rows), input_names, output_names, x_only)

    if stream.units is not None and stream.read_unit is not None:
        return _parallel_stream(stream, needed, select, empty, signature, errors=errors, batch_size=batch_size, shuffle=shuffle,
                                buffer=buffer, shuffle_seed=shuffle_seed, cache=cache)

    def chunks() -> Iterator[Any]:
        try:
            offset = 0
            for chunk in stream.chunks(needed):
                n = len(next(iter(chunk.values())))
                got = select(chunk, offset)
                if got is not None:
                    yield got
                offset += n
                if limit is not None and offset >= limit:
                    break
        except DataError as e:
            errors.record(e)
            raise

    ds = tf.data.Dataset.from_generator(chunks, output_signature=signature).unbatch()
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(buffer or STREAM_SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _parallel_stream(stream: TableStream, needed: list[str], select: Callable[[dict[str, np.ndarray], int], Any],
                     empty: Any, signature: Any, *, errors: StreamErrors, batch_size: int, shuffle: bool, buffer: int | None,
                     shuffle_seed: int | None, cache: bool) -> tf.data.Dataset:
    assert stream.units is not None and stream.read_unit is not None
    units, read_unit, limit = stream.units, stream.read_unit, stream.limit
    flat_specs = tf.nest.flatten(signature)
    flat_empty = [np.asarray(a) for a in tf.nest.flatten(empty)]
    epochs = itertools.count()
    in_block = shuffle and not cache and not buffer  # else the example-level buffer below shuffles

    def blocks() -> Iterator[tuple[bytes, int, int, int]]:
        epoch = next(epochs)  # called again for every pass over the data
        for payload, first_row, first_line in units():
            if limit is not None and first_row >= limit:
                return
            yield payload, first_row, first_line, epoch

    def parse(payload: bytes, first_row: Any, first_line: Any, epoch: Any) -> list[np.ndarray]:
        try:
            got = select(read_unit(payload, int(first_line), needed), int(first_row))
        except DataError as e:
            errors.record(e)
            raise
        if got is None:
            return flat_empty
        flat = tf.nest.flatten(got)
        if in_block:
            rng = np.random.default_rng(None if shuffle_seed is None else [shuffle_seed, int(epoch), int(first_row)])
            order = rng.permutation(len(flat[0]))
            flat = [a[order] for a in flat]
        return flat

    def parsed(payload: tf.Tensor, first_row: tf.Tensor, first_line: tf.Tensor, epoch: tf.Tensor) -> Any:
        flat = tf.numpy_function(parse, [payload, first_row, first_line, epoch], [s.dtype for s in flat_specs],
                                 stateful=False)
        for t, s in zip(flat, flat_specs):
            t.set_shape(s.shape)
        return tf.nest.pack_sequence_as(signature, flat)

    meta = (tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64))
    ds = tf.data.Dataset.from_generator(blocks, output_signature=meta)
    ds = ds.map(parsed, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache or (shuffle and buffer):
        ds = ds.unbatch()
        if cache:
            ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(buffer or STREAM_SHUFFLE_BUFFER, seed=shuffle_seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size)
    else:
        ds = ds.rebatch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
