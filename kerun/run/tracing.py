"""A compiled model's state built before its first step is traced, so that step is traced once.

Without a tf.distribute strategy, Keras defers building the optimizer's slots and the compiled
metrics' variables to the first call of the train (or test) function. TensorFlow then traces that
call twice: once creating the variables, and again without creating them. On the examples that
second trace was a quarter of ``kerun check``'s time (the 14 specs one after the other in a warm
process: 32.9 s, 24.0 s without it; xception_blocks 5.3 s, 3.0 s), it lengthens every run's and
sweep trial's first epoch by as much, and ``kerun eval`` traced its test step twice.
:func:`build_ahead` builds that state first, as Keras itself does under a strategy
(``TensorFlowTrainer._maybe_symbolic_build``): the same variables, created in the same order
with the same zero values, from the dataset's element spec instead of its first batch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_ahead"]


def build_ahead(model: Any, dataset: Any) -> bool:
    """Build ``model``'s optimizer slots and compiled metrics and losses from ``dataset``'s
    element spec, as Keras would inside the first traced step; whether it did.

    Left to Keras as before (False): a model under a tf.distribute strategy (Keras builds ahead
    itself), a model with a step of its own, data that is not a ``tf.data.Dataset``, a Keras
    without ``_symbolic_build``, and a model that Keras cannot build symbolically (its first
    step, traced, then builds it, and reports whatever is wrong there)."""
    import tensorflow as tf

    from kerun.model.model import TRAINING_METHODS, trains_itself

    own_step = (*TRAINING_METHODS, "test_step", "compute_metrics")  # overridden: the traced step is the model's own
    if getattr(model, "_distribute_strategy", None) is not None or trains_itself(model, own_step):
        return False
    build = getattr(model, "_symbolic_build", None)
    if build is None or not isinstance(dataset, tf.data.Dataset):
        return False
    try:
        build(data_batch=dataset.element_spec)
    except Exception:  # noqa: BLE001 - Keras's own deferred build takes over (see the docstring)
        return False
    return True
