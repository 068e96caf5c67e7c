"""``distribute.strategy``: the tf.distribute strategy a run trains under."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from kerun.spec import LoadedSpec

__all__ = ["strategy_scope"]


@contextlib.contextmanager
def strategy_scope(loaded: LoadedSpec) -> Iterator[Any]:
    """Build and compile inside the strategy's scope; ``default`` uses TensorFlow's default."""
    import tensorflow as tf

    name = loaded.spec.distribute.strategy
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    else:
        from kerun.run.multiworker import multi_worker_strategy

        strategy = multi_worker_strategy()
    if name != "default":
        import keras

        keras.backend.clear_session()  # before the scope: clearing resets the graph the scope lives in
    with strategy.scope():
        yield strategy
