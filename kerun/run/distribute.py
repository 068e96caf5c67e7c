"""``distribute.strategy``: the tf.distribute strategy a run trains under.

``mirrored`` places one replica on every local GPU; on a machine without one, TensorFlow has a
single CPU device and the strategy a single replica. ``KERUN_CPU_DEVICES=N`` splits the CPU into
N logical devices first, so ``mirrored`` runs N replicas there: it proves that a spec's
multi-replica code works (the batch split, the gradient all-reduce, the metrics) before it goes to
a GPU machine; it does not make training faster.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from kerun.errors import RunError
from kerun.spec import LoadedSpec

__all__ = ["CPU_DEVICES_ENV", "split_cpu", "strategy_scope"]

CPU_DEVICES_ENV = "KERUN_CPU_DEVICES"


def split_cpu() -> None:
    """Make ``KERUN_CPU_DEVICES`` logical CPU devices when it is set and there is no GPU."""
    import os

    import tensorflow as tf

    raw = os.environ.get(CPU_DEVICES_ENV, "").strip()
    if not raw or tf.config.list_physical_devices("GPU"):
        return
    if not raw.isdigit() or int(raw) < 1:
        raise RunError(f"{CPU_DEVICES_ENV}={raw!r}: expected a positive number of logical CPU devices")
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * int(raw)
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == len(wanted):
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        raise RunError(f"{CPU_DEVICES_ENV} must be set before TensorFlow starts in this process",
                       hint="set it in the environment of the kerun command") from None


@contextlib.contextmanager
def strategy_scope(loaded: LoadedSpec) -> Iterator[Any]:
    """Build and compile inside the strategy's scope; ``default`` uses TensorFlow's default."""
    import tensorflow as tf

    name = loaded.spec.distribute.strategy
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        split_cpu()
        strategy = tf.distribute.MirroredStrategy()
    else:
        from kerun.run.multiworker import multi_worker_strategy

        strategy = multi_worker_strategy()
    if name != "default":
        import keras

        _refuse_summed_gradients(loaded, strategy, keras.__version__)
        keras.backend.clear_session()  # before the scope: clearing resets the graph the scope lives in
    with strategy.scope():
        yield strategy


def _refuse_summed_gradients(loaded: LoadedSpec, strategy: Any, keras_version: str) -> None:
    """Keras 3.7 adds up the replicas' gradients where later versions average them (Keras 3.8
    scales each replica's loss by the number of replicas): with N replicas every step is N times
    the step one replica takes, so the run would train another model than the spec says, silently."""
    replicas = strategy.num_replicas_in_sync
    if replicas <= 1 or tuple(int(p) for p in keras_version.split(".")[:2]) >= (3, 8):
        return
    path = ("distribute", "strategy")
    raise RunError(f"{loaded.spec.distribute.strategy} with {replicas} replicas: Keras "
                   f"{keras_version} adds up the replicas' gradients instead of averaging them, so each step "
                   f"would be {replicas} times the step of one replica",
                   location=loaded.doc.locate(path), path=path,
                   hint="install Keras 3.8 or newer beside your TensorFlow (pip install 'keras>=3.8'), "
                        "or train on one replica")
