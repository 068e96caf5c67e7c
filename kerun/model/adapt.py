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

__all__ = ["ADAPTABLE", "adapt_on", "adapt_without_data", "needs_state"]

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
        return getattr(layer, "bin_boundaries", None) is None
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
