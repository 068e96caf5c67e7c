"""From a checked spec to the ``keras.Model`` it describes.

The graph rules of the format: an entry without ``inputs`` takes the previous entry's output (the
first takes the model's single input); ``inputs`` names model inputs or earlier entries (``lstm.1``
is the second of several outputs of entry ``lstm``); ``use`` applies an earlier entry's layer again
with shared weights; a ``type`` naming a sub-model of ``models:`` builds a fresh instance of it,
as an entry or as an argument of another layer (``encoder: {type: encoder}``).

Preprocessing layers left to adapt are adapted on what reaches them, wherever they sit: the
builder knows, for the model it is building, how the training inputs become that model's inputs
(its *feed*: identity for the top model, the entries before a sub-model's entry, composed for a
nested one), and maps the training split through it and the entries before the layer.

A straight chain with one input becomes a ``keras.Sequential``, as a Keras user would write it; any
other graph becomes a functional model. Models with several inputs take a dict of arrays keyed by
input name; models with several outputs return a dict keyed by output name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import keras

from kerun.model.adapt import adapt_on, adapt_without_data, misreported_width, needs_state
from kerun.model.inputs import call_layer, check_keywords
from kerun.model.objects import at, make_object
from kerun.model.plugins import load_plugins
from kerun.model.precision import STATISTICS, dtype_policy_scope, output_dtype
from kerun.errors import BuildError
from kerun.spec import LoadedSpec
from kerun.spec.refs import split_ref
from kerun.spec.model import LayerSpec, ModelSpec

__all__ = ["BuiltModel", "build_model", "is_chain", "trains_itself"]


@dataclass
class BuiltModel:
    model: keras.Model
    input_names: list[str]
    output_names: list[str]
    #: Preprocessing layers whose state comes from data and that this build did not adapt (it was
    #: built without data): ``build_model(loaded, adapt_data=...)`` adapts them while it builds.
    adapt: list[keras.layers.Layer] = field(default_factory=list)
    #: The preprocessing layers this build adapted on the training split.
    adapted: list[keras.layers.Layer] = field(default_factory=list)
    sequential: bool = False
    #: The spec entry (its path) that made each layer, by the layer's name (for runtime errors).
    entries: dict[str, tuple[str | int, ...]] = field(default_factory=dict)
    #: The model is a plugin ``keras.Model`` with its own ``train_step``/``compute_loss``: kerun
    #: compiles and fits it as itself, demanding no target (``output_names`` is empty) nor loss.
    trains_itself: bool = False


def is_chain(model: ModelSpec) -> bool:
    """One input, no ``inputs``/``use``/``outputs`` anywhere: a Sequential model."""
    return (
        len(model.inputs) == 1
        and model.outputs is None
        and all(e.inputs is None and e.use is None for e in model.layers)
    )


# What to write instead when Keras declares a wrong width for an adapted layer (misreported_width).
_WIDTH_HINTS = {
    "Discretization": "keep output_mode: int and encode the bins with the next layer, "
                      "{type: CategoryEncoding, num_tokens: NUM_BINS, output_mode: one_hot}, or use Keras 3.14 or newer",
}


_NO_FEED = object()
"""The feed of a sub-model whose inputs cannot be traced to the training inputs (one built as
an argument of another layer, or fed several tensors)."""


@dataclass(frozen=True)
class _Feed:
    """How the training inputs become the inputs of the model being built: ``fn`` maps a batch
    (None: they are the same), ``trained`` names the layers on the way that hold trainable weights."""

    fn: Callable[[Any], Any] | None = None
    trained: tuple[str, ...] = ()

    def then(self, fn: Callable[[Any], Any] | None, owner: keras.Model | None) -> _Feed:
        trained = self.trained + tuple(_trained_layers(owner))
        if fn is None or self.fn is None:
            return _Feed(fn or self.fn, trained)
        first = self.fn
        return _Feed(lambda d: fn(first(d)), trained)


def _trained_layers(model: keras.Model | None) -> list[str]:
    return [] if model is None else [layer.name for layer in model.layers if layer.trainable_weights]


_Reach = Callable[[], "tuple[Callable[[Any], Any] | None, keras.Model | None]"]
"""Gives what maps the inputs of the model being built to a tensor, and the model of the
entries on the way (None when the tensor is an input); computed only when needed."""


class _Builder:
    def __init__(self, loaded: LoadedSpec, adapt_data: Callable[[], Any] | None) -> None:
        self.loaded = loaded
        self.spec = loaded.spec
        self.adapt_data = adapt_data
        self.feed: _Feed | object = _Feed()
        #: What an argument naming a sub-model receives: a fresh instance (kerun.model.objects).
        self.submodels = {n: (lambda opts, _n=n: self.arg_model(_n, opts)) for n in loaded.spec.models}
        self.pending: list[keras.layers.Layer] = []
        self.adapted: list[keras.layers.Layer] = []
        self.entries: dict[str, tuple[str | int, ...]] = {}
        #: Plugin models that train themselves, with the path of the entry that made each.
        self.trainers: list[tuple[keras.Model, tuple[str | int, ...]]] = []
        # Precision (kerun.model.precision): under a mixed policy the model's output entries are
        # built in float32, so the loss and the metrics see float32 values.
        top = loaded.spec.model
        self.policy = top.dtype_policy
        outs = {split_ref(n)[0] for n in top.output_names()} if top.outputs is not None else set()
        last = len(top.layers) - 1
        self.float32_entries = {("model", "layers", i) for i, e in enumerate(top.layers)
                                if (e.name in outs if outs else i == last)}

    def arg_model(self, name: str, options: dict[str, Any]) -> keras.Model:
        """A fresh instance of sub-model ``name`` for an argument; named after it by default."""
        model = self.model(self.spec.models[name], ("models", name), name=options.get("name") or name, feed=_NO_FEED)
        if options.get("trainable") is False:
            model.trainable = False
        return model

    def layer(self, entry: LayerSpec, path: tuple[str | int, ...], feed: _Feed | object = _NO_FEED) -> keras.layers.Layer:
        assert entry.type is not None
        if entry.type in self.spec.models:
            sub = self.spec.models[entry.type]
            model = self.model(sub, ("models", entry.type), name=entry.name or None, feed=feed)
            if entry.args.get("trainable") is False:
                model.trainable = False
            self.entries[model.name] = path
            return model
        float32 = path in self.float32_entries or _class_name(entry.type) in STATISTICS
        args = output_dtype(self.policy, entry.args) if float32 else entry.args
        config: dict[str, Any] = {"type": entry.type, **args}
        if entry.name:
            config["name"] = entry.name
        layer = make_object("layer", config, self.submodels)
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"{entry.type!r} is not a Keras layer or model")
        if trains_itself(layer):
            self.trainers.append((layer, path))
        self.entries[layer.name] = path
        return layer

    def prepare(self, layer: Any, x: Any, reach: _Reach, path: tuple[str | int, ...], entry: LayerSpec) -> None:
        """Adapt ``layer`` before it is called on ``x``, on the training inputs mapped through the
        feed of the model being built and then ``reach``, the entries before it in that model."""
        if not needs_state(layer) or isinstance(x, (list, tuple, dict)):
            return
        if self.adapt_data is None:
            self.pending.append(layer)
            adapt_without_data(layer, x)
            return
        what = f"{_describe(entry)}: a {type(layer).__name__}"
        state = "give its state in the spec (vocabulary, mean and variance, bin_boundaries)"
        if not isinstance(self.feed, _Feed):
            raise BuildError(f"{what} cannot be adapted: no training data reaches its sub-model while the model is built "
                             "(the sub-model is an argument of another layer, or takes several inputs)",
                             location=self.loaded.doc.locate(path), path=path,
                             hint=f"{state}, or use the sub-model as an entry of its own, with one input")
        feed = self.feed.then(*reach())
        if feed.trained:
            raise BuildError(f"{what} cannot be adapted: the data reaching it passes through {', '.join(feed.trained)}, "
                             "whose weights are not trained yet while the model is built",
                             location=self.loaded.doc.locate(path), path=path,
                             hint=f"{state}, or move it before the layers that have weights")
        feature = feed.fn
        adapt_on(layer, self.adapt_data(), feature)
        widths = misreported_width(layer, self.adapt_data(), feature, x)
        if widths is not None:
            raise BuildError(
                f"{_describe(entry)}: Keras {keras.__version__} declares this {type(layer).__name__}'s output "
                f"{widths[0]} wide but computes it {widths[1]} wide once adapted, so the layers after it "
                "cannot be built (a Keras bug: a hand-written model fails the same way)",
                location=self.loaded.doc.locate(path), path=path,
                hint=_WIDTH_HINTS.get(type(layer).__name__, "use a Keras version where the declared and computed "
                                      "shapes agree, or encode the layer's output with a separate layer"))
        self.adapted.append(layer)

    def model(self, spec: ModelSpec, path: tuple[str | int, ...], *, name: str | None,
              feed: _Feed | object = _Feed()) -> keras.Model:
        """Build ``spec``; ``feed`` says how the training inputs become its inputs (adapting)."""
        outer, self.feed = self.feed, feed
        try:
            return self._model(spec, path, name=name)
        finally:
            self.feed = outer

    def _feed_of(self, reach: _Reach, x: Any, entry: LayerSpec) -> _Feed | object:
        """The feed of a sub-model entry about to be called on ``x`` (worked out only for one)."""
        if entry.type not in self.spec.models or not isinstance(self.feed, _Feed) or isinstance(x, (list, tuple, dict)):
            return _NO_FEED
        return self.feed.then(*reach())

    def _model(self, spec: ModelSpec, path: tuple[str | int, ...], *, name: str | None) -> keras.Model:
        doc = self.loaded.doc
        inputs = {
            n: keras.Input(shape=tuple(i.shape), dtype=i.dtype, sparse=i.sparse or None, name=n)
            for n, i in spec.inputs.items()
        }
        if is_chain(spec):
            seq = keras.Sequential(name=name)
            first = next(iter(inputs.values()))
            seq.add(first)
            for i, entry in enumerate(spec.layers):
                epath = path + ("layers", i)
                with at(doc.locate(epath), epath, _describe(entry)):
                    if seq.layers:
                        x, reach = seq.outputs[0], (lambda _s=seq: ((lambda d: _s(d, training=False)), _s))
                    else:
                        x, reach = first, (lambda: (None, None))
                    layer = self.layer(entry, epath, self._feed_of(reach, x, entry))
                    self.prepare(layer, x, reach, epath, entry)
                    seq.add(layer)
            return seq

        tensors: dict[str, Any] = dict(inputs)
        layers: dict[str, keras.layers.Layer] = {}
        previous: Any = next(iter(inputs.values())) if len(inputs) == 1 else None
        for i, entry in enumerate(spec.layers):
            epath = path + ("layers", i)
            with at(doc.locate(epath), epath, _describe(entry)):
                layer = layers[entry.use] if entry.use else None
                if isinstance(entry.inputs, dict):
                    layer = layer or self.layer(entry, epath)
                    kwargs = {
                        k: _tensor(tensors, v) if isinstance(v, str) else [_tensor(tensors, r) for r in v]
                        for k, v in entry.inputs.items()
                    }
                    check_keywords(layer, kwargs)
                    out = layer(**kwargs)
                else:
                    refs = entry.input_refs()
                    x = previous if refs is None else [_tensor(tensors, r) for _, r in refs]
                    if isinstance(x, list) and len(x) == 1:
                        x = x[0]
                    if layer is None:
                        reach = (lambda _x=x: _feature(inputs, _x))
                        layer = self.layer(entry, epath, self._feed_of(reach, x, entry))
                        self.prepare(layer, x, reach, epath, entry)
                    out = call_layer(layer, x)
                if isinstance(out, dict) and entry.type in self.spec.models:  # Keras sorts the keys: the spec's order
                    out = {n: out[n] for n in self.spec.models[entry.type].output_names() if n in out} or out
            if entry.name:
                tensors[entry.name] = out
                layers[entry.name] = layer
            previous = out
        outs = spec.output_names() if spec.outputs is not None else []
        if outs:
            out_tensors: Any = {n: _tensor(tensors, n) for n in outs}
            if len(outs) == 1:
                out_tensors = next(iter(out_tensors.values()))
        else:
            out_tensors = previous
        model_inputs: Any = inputs if len(inputs) > 1 else next(iter(inputs.values()))
        with at(doc.locate(path), path, "the model"):
            return keras.Model(inputs=model_inputs, outputs=out_tensors, name=name)


def _feature(inputs: dict[str, Any], x: Any) -> tuple[Callable[[Any], Any] | None, keras.Model | None]:
    """What maps a batch of the model's inputs (one array, or a dict by input name) to ``x``, and
    the model of the entries on the way (None when ``x`` is an input).

    Inputs are paired by name, never by position: Keras orders ``model.inputs`` its own way."""
    for name, tensor in inputs.items():
        if tensor is x:
            return (None if len(inputs) == 1 else (lambda d, _n=name: d[_n])), None
    sub = keras.Model(inputs if len(inputs) > 1 else next(iter(inputs.values())), x)
    return (lambda d: sub(d, training=False)), sub


def _class_name(name: str) -> str:
    """The canonical Keras class of a layer type (``Convolution2D`` is ``Conv2D``)."""
    from kerun.spec import catalog

    info = catalog.lookup("layer", name)
    return info.name if info else name


def _describe(entry: LayerSpec) -> str:
    what = entry.type if entry.type else f"use: {entry.use}"
    return f"{what} ({entry.name})" if entry.name else what


def _tensor(tensors: dict[str, Any], ref: str) -> Any:
    base, index = split_ref(ref)
    if base not in tensors and "." in ref:  # enc.z_mean: a sub-model's output by its name
        head, pick = ref.rsplit(".", 1)
        value = tensors.get(head)
        if isinstance(value, dict) and pick in value:
            return value[pick]
    value = tensors[base]
    if index is None:
        return value
    if isinstance(value, dict):  # a sub-model with several outputs: numbered in its outputs' order
        value = list(value.values())
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{ref!r}: entry {base!r} has a single output; write {base!r}")
    if index >= len(value):
        raise ValueError(f"{ref!r}: entry {base!r} has {len(value)} outputs, numbered from 0")
    return value[index]


def build_model(loaded: LoadedSpec, adapt_data: Callable[[], Any] | None = None) -> BuiltModel:
    """Import the plugins, seed, and build the model; Keras errors arrive at the entry's line.

    ``adapt_data`` returns the training split's inputs (one array, or a dict by input name) as a
    ``tf.data.Dataset``: each preprocessing layer whose state the spec leaves out is adapted on it
    before the layers after it are built. Without it such layers are listed in ``adapt``."""
    load_plugins(loaded)
    # Fresh layer names (dense, dense_1 ...) for every build, so a spec always builds the same
    # model, names included, whatever was built before in this process. Inside a tf.distribute
    # scope the session was cleared before the scope was entered (clearing it now would drop the
    # scope: kerun.run.distribute.strategy_scope), so only the name counters start again.
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        keras.backend.clear_session()
    else:
        from keras.src.backend.common import global_state

        global_state.set_global_attribute("object_name_uids", None)
    if loaded.spec.seed is not None:
        keras.utils.set_random_seed(loaded.spec.seed)
    builder = _Builder(loaded, adapt_data)
    for sub_name, sub in loaded.spec.models.items():
        if sub.dtype_policy not in ("float32", loaded.spec.model.dtype_policy):
            path = ("models", sub_name, "dtype_policy")
            raise BuildError(f"models.{sub_name}.dtype_policy: a sub-model is built under the model's policy",
                             location=loaded.doc.locate(path), path=path,
                             hint=f"set dtype_policy: {sub.dtype_policy} on model: instead")
    with dtype_policy_scope(loaded.spec.model.dtype_policy):  # set for the build only, then restored
        model = builder.model(loaded.spec.model, ("model",), name=loaded.name.replace(".", "_"))
    spec = loaded.spec.model
    input_names = list(spec.inputs)
    own = _own_trainer(loaded, builder)
    if own is not None:
        _start_from(loaded, own)
        return BuiltModel(model=own, input_names=input_names, output_names=[], adapt=builder.pending,
                          adapted=builder.adapted, entries=builder.entries, trains_itself=True)
    output_names = spec.output_names()
    if not output_names:
        output_names = [n.split("/")[0] for n in getattr(model, "output_names", [])] or ["output"]
    if len(output_names) != len(model.outputs):
        raise BuildError(
            f"the model has {len(model.outputs)} outputs but {len(output_names)} output names",
            location=loaded.doc.locate(("model",)),
            hint="name each output in 'outputs:'; several outputs of one entry are 'name.0', 'name.1' ...",
        )
    _start_from(loaded, model)
    return BuiltModel(model=model, input_names=input_names, output_names=output_names, adapt=builder.pending,
                      adapted=builder.adapted, sequential=isinstance(model, keras.Sequential), entries=builder.entries)


TRAINING_METHODS = ("train_step", "compute_loss")


def trains_itself(obj: Any, methods: tuple[str, ...] = TRAINING_METHODS) -> bool:
    """A ``keras.Model`` whose class (not Keras's own) overrides one of ``methods`` (by default
    ``train_step`` or ``compute_loss``)."""
    if not isinstance(obj, keras.Model):
        return False
    cls = type(obj)
    return any(getattr(cls, m, None) is not getattr(keras.Model, m, None)
               and not getattr(getattr(cls, m, None), "__module__", "keras").startswith("keras")
               for m in methods)


def _own_trainer(loaded: LoadedSpec, builder: _Builder) -> keras.Model | None:
    """The plugin model that is the whole model (the only entry of ``model:``) and trains itself,
    to be fitted as itself. One inside a larger graph would be trained by the graph's own step,
    its ``train_step`` never run: refused rather than training something else in its place."""
    spec = loaded.spec.model
    for model, path in builder.trainers:
        if path == ("model", "layers", 0) and len(spec.layers) == 1 and spec.outputs is None:
            return model
        name = type(model).__name__
        raise BuildError(f"{name} has its own train_step/compute_loss, which would not run inside a larger model",
                         location=loaded.doc.locate(path), path=path,
                         hint=f"make {name} the only entry of model.layers (kerun then fits it as itself), "
                         "or move its inputs and outputs into the class")
    return None


def _start_from(loaded: LoadedSpec, model: keras.Model) -> None:
    """Load ``train.initial_weights`` and freeze ``train.freeze``.

    The weights load after adapting: the state they hold (a Normalization's mean) replaces the
    adapted one, and what they cannot hold (a lookup's vocabulary) stays as adapted."""
    train = loaded.spec.train
    if train.initial_weights is not None:
        path = ("train", "initial_weights")
        file = loaded.resolve(train.initial_weights)
        if not file.is_file():
            raise BuildError(f"no weights file {str(file)!r}", location=loaded.doc.locate(path), path=path,
                             hint="the path is relative to the spec file; kerun import --weights writes one")
        try:
            import h5py

            with h5py.File(file, "r") as h5:
                stored: list[str] = []
                h5.visititems(lambda name, obj: stored.append(name) if isinstance(obj, h5py.Dataset) and "/vars/" in f"/{name}" else None)
            if len(stored) != len(model.weights):
                raise ValueError(f"the file holds {len(stored)} weight arrays and the model has {len(model.weights)}")
            model.load_weights(file)
        except (ValueError, OSError, KeyError) as exc:
            raise BuildError(f"the weights in {str(file)!r} do not fit this model: {_first_line(exc)}",
                             location=loaded.doc.locate(path), path=path,
                             hint="the file must come from a model built from this same spec (kerun import --weights writes one)") from None
    for i, name in enumerate(train.freeze):
        entry = next((e for e in loaded.spec.model.layers if e.name == name), None)
        target = entry.use if entry is not None and entry.use else name
        try:
            model.get_layer(target).trainable = False
        except ValueError:
            path = ("train", "freeze", i)
            raise BuildError(f"no layer {name!r} in the model", location=loaded.doc.locate(path), path=path) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
