"""From a source's fields to model inputs, targets and sample weights.

:func:`resolve_plan` decides, once per source, which fields (or stacked columns) feed each model
input and output and how (offset, scale, reshape, dtype, one-hot), checking every name against the
source and every shape against the model. :meth:`Plan.apply` then turns any number of rows (a whole
split in memory, or one chunk of a streamed file) into arrays, vectorised.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from kerun.data._common import SourceContext, aligned_empty, missing_name_error, take_rows
from kerun.errors import DataError
from kerun.spec.data import FieldSpec

__all__ = ["Mapped", "Plan", "Schema", "FieldPlan", "resolve_plan", "schema_of", "output_shapes"]


@dataclass
class Schema:
    """Field names in order, one example's shape and the dtype of each; and the label field."""

    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, np.dtype]
    label: str | None = None
    tabular: bool = False


def schema_of(fields: dict[str, np.ndarray], label: str | None, *, tabular: bool = False) -> Schema:
    return Schema({k: tuple(v.shape[1:]) for k, v in fields.items()}, {k: v.dtype for k, v in fields.items()}, label, tabular)


@dataclass
class FieldPlan:
    """How one model input or output is made from the source's fields."""

    name: str
    fields: list[str]
    stack: bool
    where: tuple[str | int, ...]
    offset: float | None = None
    scale: float | None = None
    reshape: tuple[int, ...] | None = None
    shape: tuple[int | None, ...] | None = None     # the final per-example shape wanted (None: free)
    dtype: str = "float32"
    one_hot: int | None = None
    classes: int | None = None                      # labels checked against [0, classes)
    pad_to: int | None = None                       # ragged sequences padded/truncated to this length
    is_target: bool = False


@dataclass
class Mapped:
    """Model-ready arrays for some rows: x and y keyed by input/output name, sample weights or None."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    sw: np.ndarray | None

    def __len__(self) -> int:
        for d in (self.x, self.y):
            for v in d.values():
                return int(v.shape[0])
        return 0 if self.sw is None else len(self.sw)

    def take(self, index: np.ndarray) -> "Mapped":
        return Mapped({k: take_rows(v, index) for k, v in self.x.items()}, {k: take_rows(v, index) for k, v in self.y.items()},
                      None if self.sw is None else self.sw[index])


@dataclass
class Plan:
    ctx: SourceContext
    inputs: list[FieldPlan]
    targets: list[FieldPlan]
    sample_weight: str | None
    schema: Schema
    num_classes: dict[str, int] = field(default_factory=dict)

    def needed(self) -> list[str]:
        """The fields this plan reads, in schema order (to read only those columns)."""
        used = {f for p in self.inputs + self.targets for f in p.fields}
        if self.sample_weight:
            used.add(self.sample_weight)
        return [f for f in self.schema.shapes if f in used]

    def apply(self, fields: dict[str, np.ndarray], row_offset: int = 0, rows: np.ndarray | None = None) -> Mapped:
        """The fields mapped to inputs and targets. Errors name a row of the source: row
        ``row_offset + i`` for the i-th row, or ``rows[i]`` when ``rows`` gives the source row of
        each (a streamed split keeps only some rows of a block)."""
        n = len(next(iter(fields.values()))) if fields else 0
        at = _Rows(self.ctx, row_offset, rows)
        x = {p.name: _apply(self, p, fields, n, at) for p in self.inputs}
        y = {p.name: _apply(self, p, fields, n, at) for p in self.targets}
        sw = None
        if self.sample_weight:
            w = _numeric(self, self.sample_weight, fields[self.sample_weight], "float32", at, "the sample weights")
            if w.ndim > 1:
                if int(np.prod(w.shape[1:])) != 1:
                    raise self.ctx.error(f"sample_weight field {self.sample_weight!r} has shape {w.shape[1:]} per example; expected one number")
                w = w.reshape(n)
            sw = w.astype(np.float32, copy=False)
        return Mapped(x, y, sw)

    def empty(self) -> Mapped:
        """The plan applied to zero rows: dtypes and per-example shapes for a tf.data signature."""
        fields = {}
        for f in self.needed():
            dt = self.schema.dtypes[f]
            fields[f] = np.empty((0, *self.schema.shapes[f]), dtype=dt)
        return self.apply(fields)


# ---------------------------------------------------------------------------------------------
# resolution


def output_shapes(built: Any) -> dict[str, tuple[int | None, ...] | None]:
    """Each output's per-example shape as Keras reports it, or None when unknown."""
    model = built.model
    try:
        struct = model.output
    except Exception:  # subclassed models without symbolic outputs
        struct = None
    if isinstance(struct, dict):
        outs = [struct.get(name) for name in built.output_names]
    else:
        try:
            outs = list(model.outputs)
        except Exception:
            outs = []
    shapes: dict[str, tuple[int | None, ...] | None] = {}
    for i, name in enumerate(built.output_names):
        try:
            shapes[name] = tuple(None if d is None else int(d) for d in tuple(outs[i].shape)[1:])
        except Exception:
            shapes[name] = None
    return shapes


def _as_fieldspec(ref: Any) -> FieldSpec:
    return FieldSpec(field=ref) if isinstance(ref, str) else ref


def _known(shape: Sequence[int | None] | None) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _size(shape: Sequence[int]) -> int:
    return int(math.prod(shape)) if shape else 1


def resolve_plan(ctx: SourceContext, schema: Schema, loaded: Any, built: Any, *, targets: bool = True,
                 label_hint: str | None = None) -> Plan:
    """Which fields feed which inputs and outputs of ``built``, checked against ``schema``.

    With ``targets=False`` (prediction) only the inputs are resolved; ``label_hint`` names the label
    field of the training source so that it is left out of a default input.
    """
    data = loaded.spec.data
    spec_inputs = loaded.spec.model.inputs
    names = list(schema.shapes)
    plan = Plan(ctx, [], [], None, schema)
    if schema.label is not None and schema.label not in schema.shapes:
        raise missing_name_error(ctx, "field", schema.label, names, "label")

    # Targets first: the fields they take are not inputs.
    tmap: dict[str, Any] = dict(data.targets) if data is not None else {}
    out_shapes = output_shapes(built)
    if "*" in tmap:
        if len(built.output_names) != 1:
            raise DataError("'targets' written as one field description needs a single-output model; "
                            f"this model has outputs {built.output_names}: map each by name",
                            location=loaded.doc.locate(("data", "targets")), path=("data", "targets"))
        tmap = {built.output_names[0]: tmap.pop("*"), **tmap}
    for key in tmap:
        if key not in built.output_names:
            where = ("data", "targets", key)
            raise missing_name_error(ctx, "model output", key, built.output_names, where=where)
    used: set[str] = set()
    label = schema.label if schema.label is not None else ("label" if "label" in schema.shapes else None)
    if targets:
        for out in built.output_names:
            ref = tmap.get(out)
            where = ("data", "targets") if "*" in (data.targets if data else {}) and out == built.output_names[0] and out not in (data.targets or {}) else ("data", "targets", out)
            fs = _as_fieldspec(ref) if ref is not None else FieldSpec()
            default = out if out in schema.shapes else (label if len(built.output_names) == 1 else None)
            p = _field_plan(ctx, schema, out, fs, default, where if ref is not None else ctx.path, is_target=True)
            if p is None:
                if len(built.output_names) == 1:
                    raise ctx.error(f"no field for the model output {out!r}: the source has no label field",
                                    "label", hint="name the label column with the source's 'label:', or map the output in "
                                    f"'data.targets'; the fields are: {', '.join(names)}")
                raise missing_name_error(ctx, "field", out, names,
                                         hint=f"map the output in 'data.targets', e.g. data.targets.{out}: <field>")
            _target_shape(ctx, p, schema, out_shapes.get(out), fs)
            if p.classes:
                plan.num_classes[out] = p.classes
            plan.targets.append(p)
            used.update(p.fields)
    else:
        for out in built.output_names:
            ref = tmap.get(out)
            if ref is not None:
                fs = _as_fieldspec(ref)
                used.update([fs.field or out] if not fs.columns else [])
        if label_hint:
            used.add(label_hint)
        if label:
            used.add(label)

    sw = loaded.spec.train.sample_weight
    if sw is not None:
        if targets:
            if sw not in schema.shapes:
                raise missing_name_error(ctx, "field", sw, names, where=("train", "sample_weight"))
            plan.sample_weight = sw
        used.add(sw)

    imap: dict[str, Any] = dict(data.inputs) if data is not None else {}
    for key in imap:
        if key not in spec_inputs:
            raise missing_name_error(ctx, "model input", key, list(spec_inputs), where=("data", "inputs", key))
    for name in built.input_names:
        ref = imap.get(name)
        decl = spec_inputs[name]
        fs = _as_fieldspec(ref) if ref is not None else FieldSpec()
        where = ("data", "inputs", name) if ref is not None else ctx.path
        default: str | list[str] | None = name if name in schema.shapes else None
        if default is None and len(built.input_names) == 1:
            rest = [f for f in names if f not in used]
            if len(rest) == 1:
                default = rest[0]
            elif rest and all(schema.shapes[f] == () for f in rest):
                default = rest
            elif rest:
                raise ctx.error(f"cannot tell which fields make the model input {name!r}: the source has {', '.join(rest)}",
                                hint=f"map them in 'data.inputs', e.g. data.inputs.{name}: {rest[0]}")
        p = _field_plan(ctx, schema, name, fs, default, where, is_target=False)
        if p is None:
            raise missing_name_error(ctx, "field", name, [f for f in names if f not in used], where=None,
                                     hint=f"map the input in 'data.inputs', e.g. data.inputs.{name}: <field>")
        p.dtype = fs.dtype or decl.dtype
        p.shape = tuple(decl.shape)
        _input_shape(ctx, p, schema)
        plan.inputs.append(p)
    return plan


def _field_plan(ctx: SourceContext, schema: Schema, name: str, fs: FieldSpec, default: str | list[str] | None,
                where: tuple[str | int, ...], *, is_target: bool) -> FieldPlan | None:
    names = list(schema.shapes)
    if fs.columns is not None:
        patterns = [fs.columns] if isinstance(fs.columns, str) else list(fs.columns)
        cols: list[str] = []
        for i, pat in enumerate(patterns):
            if any(ch in pat for ch in "*?["):
                hit = [c for c in names if fnmatch.fnmatchcase(c, pat)]
                if not hit:
                    raise DataError(f"{ctx.describe()}: no column matches {pat!r}" , location=_loc(ctx, where + ("columns",)),
                                    path=where + ("columns",), hint=f"the columns are: {', '.join(names[:20])}")
                cols.extend(c for c in hit if c not in cols)
            else:
                if pat not in schema.shapes:
                    w = where + ("columns",) + ((i,) if not isinstance(fs.columns, str) else ())
                    raise missing_name_error(ctx, "column", pat, names, where=w)
                cols.append(pat)
        for c in cols:
            if schema.shapes[c] != ():
                raise DataError(f"{ctx.describe()}: field {c!r} holds arrays of shape {schema.shapes[c]}; 'columns' stacks scalar columns",
                                location=_loc(ctx, where + ("columns",)), path=where + ("columns",))
        p = FieldPlan(name, cols, True, where)
    elif fs.field is not None:
        if fs.field not in schema.shapes:
            raise missing_name_error(ctx, "field", fs.field, names, where=where + (("field",) if where[:2] in (("data", "inputs"), ("data", "targets")) and len(where) == 3 else ()))
        p = FieldPlan(name, [fs.field], False, where)
    elif default is None:
        return None
    elif isinstance(default, list):
        p = FieldPlan(name, default, True, where)
    else:
        p = FieldPlan(name, [default], False, where)
    p.offset, p.scale = fs.offset, fs.scale
    p.reshape = tuple(fs.reshape) if fs.reshape is not None else None
    p.is_target = is_target
    return p


def _loc(ctx: SourceContext, where: tuple[str | int, ...]):
    return ctx.loaded.doc.locate(where) if ctx.loaded is not None else None


def _err(ctx: SourceContext, p: FieldPlan, message: str, hint: str | None = None) -> DataError:
    return DataError(f"{ctx.describe()}: {message}", location=_loc(ctx, p.where), path=p.where, hint=hint)


def _raw_shape(schema: Schema, p: FieldPlan) -> tuple[int, ...]:
    if p.stack:
        return (len(p.fields),)
    return schema.shapes[p.fields[0]]


def _after_reshape(ctx: SourceContext, p: FieldPlan, raw: tuple[int, ...]) -> tuple[int, ...]:
    if p.reshape is None:
        return raw
    total = _size(raw)
    target = list(p.reshape)
    if target.count(-1) > 1:
        raise _err(ctx, p, f"reshape {list(p.reshape)} has more than one -1")
    known = _size([d for d in target if d != -1])
    if -1 in target:
        if known == 0 or total % known:
            raise _err(ctx, p, f"cannot reshape {total} values per example ({_src(p)}) to {list(p.reshape)}")
        target[target.index(-1)] = total // known
    elif known != total:
        raise _err(ctx, p, f"cannot reshape {total} values per example ({_src(p)}, shape {list(raw)}) to {list(p.reshape)}")
    p.reshape = tuple(target)
    return tuple(target)


def _src(p: FieldPlan) -> str:
    if p.stack:
        return f"{len(p.fields)} columns {p.fields[0]!r}..{p.fields[-1]!r}" if len(p.fields) > 1 else f"column {p.fields[0]!r}"
    return f"field {p.fields[0]!r}"


def _fit(have: tuple[int, ...], want: Sequence[int | None]) -> tuple[int, ...] | None:
    """The shape ``have`` becomes to fit ``want`` (None dims free), or None if it cannot."""
    want = tuple(want)
    if len(have) == len(want) and all(w is None or w == h for h, w in zip(have, want)):
        return have
    if _known(want):
        return tuple(want) if _size(have) == _size(want) else None  # type: ignore[arg-type]
    free = [i for i, w in enumerate(want) if w is None]
    if len(free) == 1:
        known = _size([w for w in want if w is not None])
        if known and _size(have) % known == 0:
            out = list(want)
            out[free[0]] = _size(have) // known
            return tuple(out)  # type: ignore[arg-type]
    return None


def _input_shape(ctx: SourceContext, p: FieldPlan, schema: Schema) -> None:
    raw = _raw_shape(schema, p)
    dt = schema.dtypes[p.fields[0]]
    if not p.stack and dt == object and p.dtype != "string" and raw == ():
        # ragged sequences (lists of ids): padded to the input's length
        length = p.shape[0] if p.shape and p.shape[0] is not None else None
        if length is not None and len(p.shape) == 1:
            p.pad_to = length
            return
    have = _after_reshape(ctx, p, raw)
    fitted = _fit(have, p.shape or ())
    if fitted is None:
        raise _err(ctx, p, f"{_src(p)} has shape {list(have)} per example, but the model input {p.name!r} is declared {list(p.shape or ())}",
                   hint=f"the values must fill the input exactly; declare the input's shape, or use 'reshape:' / 'columns:' in data.inputs.{p.name}")
    p.shape = fitted


def _target_shape(ctx: SourceContext, p: FieldPlan, schema: Schema, out: tuple[int | None, ...] | None, fs: FieldSpec) -> None:
    raw = _raw_shape(schema, p)
    have = _after_reshape(ctx, p, raw)
    string = schema.dtypes[p.fields[0]] == object and not p.stack
    width = out[-1] if out else None
    if fs.encoding == "one_hot":
        classes = fs.classes or width
        if not classes:
            raise _err(ctx, p, f"one_hot needs the number of classes for output {p.name!r}", hint="add 'classes:' to the target")
        p.one_hot = p.classes = int(classes)
        base = () if _size(have) == 1 else have
        have = (*base, int(classes))
        p.dtype = fs.dtype or "float32"
    else:
        sparse = fs.encoding == "sparse" or (
            fs.encoding is None and _known(out) and width is not None and width > 1
            and _size(have) * width == _size(out) and _size(have) != _size(out))  # type: ignore[arg-type]
        if sparse:
            p.classes = fs.classes or (width if width and width > 1 else None)
            target = tuple(out[:-1]) if out else ()
            if _known(target) and _size(have) == _size(target):  # type: ignore[arg-type]
                have = tuple(target)  # type: ignore[assignment]
            p.dtype = fs.dtype or "int32"
            p.shape = have
            return
        p.dtype = fs.dtype or ("string" if string else "float32")
    if out is not None:
        fitted = _fit(have, out)
        if fitted is None:
            if _known(out):
                raise _err(ctx, p, f"{_src(p)} has shape {list(have)} per example, but the model output {p.name!r} has shape {list(out)}",
                           hint="map the output to the right field in 'data.targets', or use 'encoding: one_hot' / 'reshape:'")
            fitted = have
        have = fitted
    p.shape = have


# ---------------------------------------------------------------------------------------------
# application


class _Rows:
    """Where the i-th row of a chunk is in its source: ``data row N`` (from 1), and for a CSV file
    the line of the file too (its header, if it has one, is line 1)."""

    def __init__(self, ctx: Any, row_offset: int, rows: np.ndarray | None) -> None:
        self.ctx, self.row_offset, self.rows = ctx, row_offset, rows

    def index(self, i: int) -> int:
        return int(self.rows[i]) if self.rows is not None else self.row_offset + i

    def __call__(self, i: int) -> str:
        r = self.index(i)
        spec = self.ctx.spec
        if getattr(spec, "type", None) != "csv":
            return f"data row {r + 1}"
        line = r + 1 + (0 if getattr(spec, "header", True) is False else 1)
        return f"data row {r + 1}, line {line} of the file"


def _numeric(plan: Plan, name: str, arr: np.ndarray, dtype: str, at: _Rows, what: str) -> np.ndarray:
    if arr.dtype == object or arr.dtype.kind in "US":
        try:
            return arr.astype(np.float64)
        except (ValueError, TypeError):
            flat = arr.reshape(len(arr), -1)
            for i in range(len(flat)):
                for v in flat[i]:
                    try:
                        float(v)
                    except (ValueError, TypeError):
                        raise plan.ctx.error(f"field {name!r} holds text ({str(v)[:40]!r} at {at(i)}), but {what} needs numbers ({dtype})",
                                             hint="choose numeric columns, or declare the input as dtype: string") from None
            raise
    return arr


def _apply(plan: Plan, p: FieldPlan, fields: dict[str, np.ndarray], n: int, at: _Rows) -> np.ndarray:
    ctx = plan.ctx
    what = f"the model {'output' if p.is_target else 'input'} {p.name!r}"
    if p.dtype == "string":
        arr = fields[p.fields[0]]
        if arr.dtype != object:
            arr = arr.astype(str).astype(object)
        return arr.reshape((n, *p.shape)) if p.shape is not None and _known(p.shape) else arr
    want = np.dtype(p.dtype)
    work = want if want.kind == "f" else np.dtype(np.float64)
    if p.stack:
        arr = aligned_empty((n, len(p.fields)), work)
        for j, c in enumerate(p.fields):
            arr[:, j] = _numeric(plan, c, fields[c], p.dtype, at, what)
    else:
        arr = fields[p.fields[0]]
        if p.pad_to is not None:
            return _pad(arr, p.pad_to, want)
        arr = _numeric(plan, p.fields[0], arr, p.dtype, at, what)
    if plan.schema.tabular and arr.dtype.kind == "f" and n:
        bad = np.isnan(arr.reshape(n, -1)).any(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            col = p.fields[int(np.flatnonzero(np.isnan(arr.reshape(n, -1)[i]))[0])] if p.stack else p.fields[0]
            short = " (an empty value or a short row)" if getattr(ctx.spec, "type", None) == "csv" else ""
            raise ctx.error(f"missing value in column {col!r} at {at(i)}{short} (for {what})",
                            hint="fill or drop missing values before training")
    if p.offset is not None or p.scale is not None:
        arr = arr.astype(work, copy=not p.stack)
        if p.offset is not None:
            arr += p.offset
        if p.scale is not None:
            arr *= p.scale
    if p.classes is not None and n:
        _check_labels(plan, p, arr, at)
    if p.one_hot is not None:
        ids = arr.reshape(n, -1) if _size(arr.shape[1:]) != 1 else arr.reshape(n)
        arr = np.eye(p.one_hot, dtype=want)[ids.astype(np.intp)]
    if p.reshape is not None and p.one_hot is None:
        arr = arr.reshape((n, *p.reshape))
    if p.shape is not None and tuple(arr.shape[1:]) != tuple(p.shape):
        arr = arr.reshape((n, *p.shape))
    return arr.astype(want, copy=False)


def _check_labels(plan: Plan, p: FieldPlan, arr: np.ndarray, at: _Rows) -> None:
    flat = arr.reshape(-1)
    lo, hi = flat.min(), flat.max()
    integral = True
    if flat.dtype.kind == "f":
        integral = bool(np.all(np.isfinite(flat)) and np.all(flat == np.floor(flat)))
    if lo >= 0 and hi < p.classes and integral:
        return
    bad = (flat < 0) | (flat >= p.classes)
    if flat.dtype.kind == "f":
        bad |= ~np.isfinite(flat) | (flat != np.floor(flat))
    i = int(np.flatnonzero(bad)[0])
    row = at(i // max(1, _size(arr.shape[1:])))
    value = flat[i]
    value = int(value) if float(value).is_integer() else value
    raise plan.ctx.error(
        f"label {value} in {_src(p)} ({row}) is not a class id in [0, {p.classes}) for the model output {p.name!r}",
        hint=f"the output has {p.classes} classes; check the label column, or set 'classes:' on the target")


def _pad(arr: np.ndarray, length: int, dtype: np.dtype) -> np.ndarray:
    # keras.utils.pad_sequences defaults: pre-padding with 0, keep the last `length` items.
    out = np.zeros((len(arr), length), dtype=dtype)
    for i, seq in enumerate(arr):
        s = np.asarray(seq)[-length:]
        if len(s):
            out[i, length - len(s):] = s
    return out
