"""Preprocessing layers whose state comes from data, adapted while the model is built.

A Keras user adapts a ``StringLookup`` before calling it on a tensor, so that the layers after it
see its real width (``output_mode: one_hot`` is as wide as the vocabulary). kerun does the same:
the builder creates each preprocessing layer, adapts it on the training split (what reaches the
layer's input, computed by the entries before it), and only then calls it and builds the rest.

Which layers: those of Keras's adaptable classes and their subclasses (``isinstance``), and only
when the spec does not give their state already (``vocabulary``, ``mean``/``variance``,
``bin_boundaries``). Without data (``kerun summary``, ``plot``, the first build of a run, which
tells the data loader the model's inputs and outputs), such a layer is adapted on no data: a
lookup is then as wide as its OOV and mask indices only (see :func:`adapt_without_data`).
"""

from __future__ import annotations

from typing import Any, Callable

import keras

__all__ = ["ADAPTABLE", "adapt_on", "adapt_without_data", "misreported_width", "needs_state"]

# Keras's preprocessing classes that learn their state in ``adapt`` (TextVectorization holds a
# StringLookup; IntegerLookup and StringLookup share IndexLookup, which Keras does not publish).
ADAPTABLE: tuple[type, ...] = (
    keras.layers.Normalization,
    keras.layers.Discretization,
    keras.layers.StringLookup,
    keras.layers.IntegerLookup,
    keras.layers.TextVectorization,
)


def needs_state(layer: Any) -> bool:
    """A preprocessing layer (or a subclass of one) whose state the spec leaves to ``adapt``."""
    if not isinstance(layer, ADAPTABLE) or not hasattr(layer, "adapt"):
        return False
    if isinstance(layer, keras.layers.Normalization):
        return getattr(layer, "input_mean", None) is None
    if isinstance(layer, keras.layers.Discretization):
        # Keras before 3.9 keeps what the constructor was given in ``input_bin_boundaries`` and
        # starts ``bin_boundaries`` as ``[]``; later versions leave ``bin_boundaries`` None.
        given = getattr(layer, "input_bin_boundaries", getattr(layer, "bin_boundaries", None))
        return given is None
    # StringLookup, IntegerLookup, TextVectorization: a static vocabulary cannot be adapted.
    return not getattr(layer, "_has_input_vocabulary", False)


def _empty(spec: Any) -> Any:
    import tensorflow as tf

    dtype = spec.dtype if spec.dtype is not None else tf.float32
    shape = [0, *[1 if d is None else d for d in spec.shape[1:]]]
    return tf.data.Dataset.from_tensor_slices(tf.zeros(shape, dtype=dtype)).batch(1)


def adapt_without_data(layer: Any, x: Any) -> None:
    """Give a lookup a width without data: adapted on no rows, it holds only its OOV and mask
    indices. The Normalization and Discretization layers keep their own shapes and are left alone."""
    if isinstance(layer, (keras.layers.StringLookup, keras.layers.IntegerLookup, keras.layers.TextVectorization)):
        config = layer.get_config()
        if config.get("output_mode", "int") != "int" and not config.get("pad_to_max_tokens", False):
            import tensorflow as tf

            layer.adapt(_empty(tf.TensorSpec(tuple(x.shape), dtype=str(x.dtype))))


def adapt_on(layer: Any, data: Any, feature: Callable[[Any], Any] | None) -> None:
    """``layer.adapt`` on the training inputs mapped by ``feature`` to what reaches the layer."""
    if feature is not None:
        data = data.map(feature)
    layer.adapt(data)


def misreported_width(layer: Any, data: Any, feature: Callable[[Any], Any] | None, x: Any) -> tuple[int, int] | None:
    """After ``adapt``: the width Keras declares for the layer's output on ``x`` against the width
    the layer computes on a batch of the data, when they differ (else None).

    The layers after it are built on the declared width, so a difference cannot train. Keras 3.7 to
    3.13 declare a ``Discretization`` with ``output_mode: one_hot`` as wide as its input (one column)
    while it computes one column per bin; a hand-written Keras model fails the same way there."""
    declared = layer.compute_output_spec(x).shape[-1]
    if declared is None:
        return None
    if feature is not None:
        data = data.map(feature)
    for batch in data.take(1):
        computed = int(keras.ops.shape(layer(batch))[-1])
        if computed != int(declared):
            return int(declared), computed
    return None
