"""``type: synthetic``: seeded random fields, and random data shaped like a model (``--synthetic``)."""

from __future__ import annotations

from typing import Any, Collection

import numpy as np

from kerun.data._common import Arrays, SourceContext

__all__ = ["read_synthetic", "synthetic_arrays"]

_WORDS = np.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"], dtype=object)


def _field(rng: np.random.Generator, f: Any, size: int) -> np.ndarray:
    shape = (size, *f.shape)
    dtype = np.dtype(f.dtype) if f.dtype not in (None, "string") else None
    if f.dtype == "string":
        words = rng.integers(0, len(_WORDS), shape)
        return _WORDS[words]
    if f.classes is not None:
        return rng.integers(0, f.classes, shape).astype(dtype or np.int32)
    if dtype is not None and dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype is not None and np.issubdtype(dtype, np.integer):
        low = int(f.min) if f.min is not None else 0
        high = int(f.max) if f.max is not None else low + 2
        return rng.integers(low, max(high, low + 1), shape).astype(dtype)
    low = f.min if f.min is not None else 0.0
    high = f.max if f.max is not None else 1.0
    if f.distribution == "normal":
        values = rng.standard_normal(shape)
        if f.min is not None or f.max is not None:
            values = np.clip(values, f.min, f.max)
    else:
        values = rng.uniform(low, high, shape)
    return values.astype(dtype or np.float32)


def read_synthetic(ctx: SourceContext, limit: int | None = None, default_seed: int | None = None) -> Arrays:
    spec = ctx.spec
    size = spec.size if limit is None else min(spec.size, limit)
    seed = spec.seed if spec.seed is not None else (default_seed if default_seed is not None else 0)
    rng = np.random.default_rng(seed)
    return Arrays({name: _field(rng, f, size) for name, f in spec.fields.items()})


def _shape(t: Any) -> tuple[int, ...]:
    return tuple(8 if d is None else int(d) for d in tuple(t.shape)[1:])


def synthetic_arrays(built: Any, size: int, seed: int, *, sparse: Collection[str] = ()) -> tuple[Any, Any]:
    """Random ``(x, y)`` shaped like the model: x from the declared inputs (float uniform [0, 1), ints in
    {0, 1}, strings from a small vocabulary), y from the output shapes (0/1 for one-unit outputs,
    one-hot rows for wider ones, class ids for outputs named in ``sparse``)."""
    rng = np.random.default_rng(seed)
    model = built.model
    inputs = list(model.inputs)
    by_name = {getattr(t, "name", None): t for t in inputs}
    if isinstance(getattr(model, "input", None), dict):
        by_name.update(model.input)
    x: dict[str, np.ndarray] = {}
    for i, name in enumerate(built.input_names):
        t = by_name.get(name, inputs[i] if i < len(inputs) else inputs[0])
        shape = (size, *_shape(t))
        dtype = str(getattr(t, "dtype", "float32"))
        if dtype == "string":
            x[name] = _WORDS[rng.integers(0, len(_WORDS), shape)]
        elif dtype == "bool":
            x[name] = rng.random(shape) < 0.5
        elif "int" in dtype:
            x[name] = rng.integers(0, 2, shape).astype(dtype)
        else:
            x[name] = rng.uniform(0, 1, shape).astype(dtype)
    y: dict[str, np.ndarray] = {}
    from kerun.data.mapping import output_shapes

    out_shapes = output_shapes(built)
    for name in built.output_names:
        shape = tuple(8 if d is None else d for d in (out_shapes.get(name) or (1,)))
        width = shape[-1] if shape else 1
        if name in sparse:
            y[name] = rng.integers(0, max(width, 1), (size, *shape[:-1])).astype(np.int32)
        elif width > 1:
            ids = rng.integers(0, width, (size, *shape[:-1]))
            y[name] = np.eye(width, dtype=np.float32)[ids]
        else:
            y[name] = rng.integers(0, 2, (size, *shape)).astype(np.float32)
    xs: Any = x[built.input_names[0]] if len(x) == 1 else x
    ys: Any = y[built.output_names[0]] if len(y) == 1 else y
    return xs, ys
