"""From a source's fields to model inputs, targets and sample weights.

:func:`resolve_plan` decides, once per source, which fields (or stacked columns) feed each model
input and output and how (offset, scale, reshape, dtype, one-hot), checking every name against the
source and every shape against the model. :meth:`Plan.apply` then turns any number of rows (a whole
split in memory, or one chunk of a streamed file) into arrays, vectorised.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from kerun.data._common import SourceContext, missing_name_error, take_rows
from kerun.data.apply import Rows, apply_field, field_source, known_shape, numeric, shape_size
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
    columns_of: dict[str, list[str]] = field(default_factory=dict)
    """Names along a field's last axis, where the source knows them (a window's columns)."""


def schema_of(fields: dict[str, np.ndarray], label: str | None, *, tabular: bool = False) -> Schema:
    return Schema({k: tuple(v.shape[1:]) for k, v in fields.items()}, {k: v.dtype for k, v in fields.items()}, label, tabular)


@dataclass
class FieldPlan:
    """How one model input or output is made from the source's fields."""

    name: str
    fields: list[str]
    stack: bool
    where: tuple[str | int, ...]
    offset: float | np.ndarray | None = None        # one number, or one per position of the last axis
    scale: float | np.ndarray | None = None
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
        at = Rows(self.ctx, row_offset, rows)
        x = {p.name: apply_field(self, p, fields, n, at) for p in self.inputs}
        y = {p.name: apply_field(self, p, fields, n, at) for p in self.targets}
        sw = None
        if self.sample_weight:
            w = numeric(self, self.sample_weight, fields[self.sample_weight], "float32", at, "the sample weights")
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
    windows = getattr(data, "windows", None)
    if windows is not None and windows.columns and windows.field in schema.shapes and windows.field not in schema.columns_of:
        # windows read as they are (a prediction file): their last axis is data.windows.columns
        if schema.shapes[windows.field][-1:] == (len(windows.columns),):
            schema.columns_of[windows.field] = list(windows.columns)
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
    p.offset = _per_column(ctx, schema, p, fs.offset, "offset", 0.0)
    p.scale = _per_column(ctx, schema, p, fs.scale, "scale", 1.0)
    p.reshape = tuple(fs.reshape) if fs.reshape is not None else None
    p.is_target = is_target
    return p


def _per_column(ctx: SourceContext, schema: Schema, p: FieldPlan, value: Any, key: str, default: float) -> float | np.ndarray | None:
    """``scale``/``offset`` as one number, or one per column along the last axis: a list in the
    columns' order, or a mapping column -> number (the columns left out keep ``default``)."""
    if value is None or isinstance(value, (int, float)):
        return value
    where = p.where + (key,)
    if p.stack:
        names: list[str] | None = list(p.fields)
        width: int | None = len(p.fields)
    else:
        shape = schema.shapes[p.fields[0]]
        width = shape[-1] if shape else None
        names = schema.columns_of.get(p.fields[0])
        if width is None:
            raise DataError(f"{ctx.describe()}: {key} gives one number per column, but field {p.fields[0]!r} holds one number per example",
                            location=_loc(ctx, where), path=where, hint=f"write one number: {key}: <number>")
    if isinstance(value, list):
        if len(value) != width:
            what = (f"the {width} columns ({', '.join(names[:8])}{' ...' if len(names) > 8 else ''})" if names
                    else f"the {width} values along the last axis of {field_source(p)}")
            raise DataError(f"{ctx.describe()}: {key} lists {len(value)} numbers for {what}",
                            location=_loc(ctx, where), path=where, hint="give one number per column, in their order, or a mapping column -> number")
        return np.asarray(value, dtype=np.float64)
    if names is None:
        raise DataError(f"{ctx.describe()}: {key} maps column names to numbers, but the {width} values along the last axis of "
                        f"{field_source(p)} have no names", location=_loc(ctx, where), path=where,
                        hint="give a list of numbers, one per position")
    out = np.full(len(names), default, dtype=np.float64)
    for name, number in value.items():
        if name not in names:
            raise missing_name_error(ctx, "column", name, names, where=where + (name,))
        out[names.index(name)] = number
    return out


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
    total = shape_size(raw)
    target = list(p.reshape)
    if target.count(-1) > 1:
        raise _err(ctx, p, f"reshape {list(p.reshape)} has more than one -1")
    known = shape_size([d for d in target if d != -1])
    if -1 in target:
        if known == 0 or total % known:
            raise _err(ctx, p, f"cannot reshape {total} values per example ({field_source(p)}) to {list(p.reshape)}")
        target[target.index(-1)] = total // known
    elif known != total:
        raise _err(ctx, p, f"cannot reshape {total} values per example ({field_source(p)}, shape {list(raw)}) to {list(p.reshape)}")
    p.reshape = tuple(target)
    return tuple(target)




def _fit(have: tuple[int, ...], want: Sequence[int | None]) -> tuple[int, ...] | None:
    """The shape ``have`` becomes to fit ``want`` (None dims free), or None if it cannot."""
    want = tuple(want)
    if len(have) == len(want) and all(w is None or w == h for h, w in zip(have, want)):
        return have
    if known_shape(want):
        return tuple(want) if shape_size(have) == shape_size(want) else None  # type: ignore[arg-type]
    free = [i for i, w in enumerate(want) if w is None]
    if len(free) == 1:
        known = shape_size([w for w in want if w is not None])
        if known and shape_size(have) % known == 0:
            out = list(want)
            out[free[0]] = shape_size(have) // known
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
        raise _err(ctx, p, f"{field_source(p)} has shape {list(have)} per example, but the model input {p.name!r} is declared {list(p.shape or ())}",
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
        base = () if shape_size(have) == 1 else have
        have = (*base, int(classes))
        p.dtype = fs.dtype or "float32"
    else:
        sparse = fs.encoding == "sparse" or (
            fs.encoding is None and known_shape(out) and width is not None and width > 1
            and shape_size(have) * width == shape_size(out) and shape_size(have) != shape_size(out))  # type: ignore[arg-type]
        if sparse:
            p.classes = fs.classes or (width if width and width > 1 else None)
            target = tuple(out[:-1]) if out else ()
            if known_shape(target) and shape_size(have) == shape_size(target):  # type: ignore[arg-type]
                have = tuple(target)  # type: ignore[assignment]
            p.dtype = fs.dtype or "int32"
            p.shape = have
            return
        p.dtype = fs.dtype or ("string" if string else "float32")
    if out is not None:
        fitted = _fit(have, out)
        if fitted is None:
            if known_shape(out):
                raise _err(ctx, p, f"{field_source(p)} has shape {list(have)} per example, but the model output {p.name!r} has shape {list(out)}",
                           hint="map the output to the right field in 'data.targets', or use 'encoding: one_hot' / 'reshape:'")
            fitted = have
        have = fitted
    p.shape = have
