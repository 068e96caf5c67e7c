"""``distribute.strategy: multi_worker_mirrored``: TensorFlow's own multi-worker engine under Keras 3.

Each worker is a process started with its own ``TF_CONFIG`` (the same cluster list, its own task);
:func:`multi_worker_strategy` makes one ``tf.distribute.MultiWorkerMirroredStrategy`` per process.

Stock Keras 3 ``fit`` fails under that strategy as soon as there are two workers, at two points
of ``keras.src.backend.tensorflow.trainer`` (see shared/notes/distributed.md):

1. ``TensorFlowTrainer._maybe_symbolic_build`` reduces the whole first distributed batch with
   ``strategy.reduce("MEAN", nest, axis=None)``; nests are not supported there and the collective
   path raises ``ValueError: Attempt to convert a value (PerReplica...)`` (keras-team/keras#20585).
   The batch is only needed for its shapes: the local replica's component is enough.
2. ``reduce_per_replica(..., "mean")`` reduces every logged value with ``axis=0`` across workers,
   but losses and metrics are scalars: ``Invalid reduction dimension 0 for input with 0
   dimensions`` (tensorflow/tensorflow#72388). Scalars are reduced with ``axis=None``.

:func:`patch_keras` replaces exactly those two functions, only for the Keras versions listed in
:data:`VERIFIED_KERAS` (where two-worker training was checked to give identical losses and
weights on every worker), and only when the multi-worker strategy is used. Any other version is
refused with an explanation rather than patched blindly.

:class:`ReadOnlyBackupAndRestore` is the backup callback of every worker but the chief: it restores
from the chief's backup and never writes (one shared backup folder written by all crashes on the
HDF5 file lock).
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras

from kerun.errors import RunError

__all__ = [
    "VERIFIED_KERAS",
    "ReadOnlyBackupAndRestore",
    "cluster_from_env",
    "multi_worker_strategy",
    "patch_keras",
]

VERIFIED_KERAS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
"""Keras minor versions whose trainer the patch was verified with: two workers trained the
tests/orchestrate/test_multiworker.py spec to identical losses and metrics, with TensorFlow 2.18
(3.7 to 3.14) and 2.21 (3.15). Outside them multi_worker_mirrored is refused, not patched blindly."""

_STRATEGY: Any = None
_PATCHED = False


def cluster_from_env() -> dict[str, Any]:
    """``TF_CONFIG`` read and checked: a cluster with workers and this process's task in it."""
    raw = os.environ.get("TF_CONFIG", "")
    hint = (
        'every worker needs TF_CONFIG, e.g. {"cluster": {"worker": ["host0:2222", "host1:2222"]}, '
        '"task": {"type": "worker", "index": 0}}; kerun launch --workers N sets it for local workers'
    )
    if not raw.strip():
        raise RunError("distribute.strategy is multi_worker_mirrored but TF_CONFIG is not set", hint=hint)
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RunError(f"TF_CONFIG is not valid JSON: {exc}", hint=hint) from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise RunError("TF_CONFIG needs a 'cluster' mapping and a 'task' mapping", hint=hint)
    kind, index = task.get("type"), task.get("index")
    members = cluster.get(kind) if isinstance(kind, str) else None
    if not isinstance(members, list) or not isinstance(index, int) or not 0 <= index < len(members):
        raise RunError(f"TF_CONFIG's task {task} is not in its cluster {cluster}", hint=hint)
    unsupported = set(cluster) - {"worker", "chief"}
    if unsupported:
        raise RunError(
            f"TF_CONFIG names {sorted(unsupported)}; multi_worker_mirrored uses 'worker' (and optionally 'chief') only",
            hint="parameter-server training does not work with Keras 3 fit; use workers only",
        )
    return config


def multi_worker_strategy() -> Any:
    """The process's ``MultiWorkerMirroredStrategy`` (created once), Keras patched for it."""
    global _STRATEGY
    if _STRATEGY is not None:
        return _STRATEGY
    cluster_from_env()
    patch_keras()
    import tensorflow as tf

    _STRATEGY = tf.distribute.MultiWorkerMirroredStrategy()
    return _STRATEGY


def patch_keras(version: str | None = None) -> None:
    """Fix Keras 3's multi-worker ``fit`` at its two known faults; refuse unverified versions."""
    global _PATCHED
    if _PATCHED:
        return
    version = version or keras.__version__
    if ".".join(version.split(".")[:2]) not in VERIFIED_KERAS:
        raise RunError(
            f"multi_worker_mirrored needs a patch of Keras's trainer that was verified for Keras "
            f"{VERIFIED_KERAS[0]} to {VERIFIED_KERAS[-1]} only; this is Keras {version}",
            hint=f"install a verified Keras version (pip install 'keras=={VERIFIED_KERAS[-1]}.*'), or train with "
            "distribute.strategy: mirrored (one machine) or default; upstream: keras-team/keras#20585, "
            "tensorflow/tensorflow#72388",
        )
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica
    for name in ("_collective_all_reduce_multi_worker", "_is_per_replica_instance"):
        if not hasattr(tf_trainer, name):  # the code the patch relies on has moved: do not guess
            raise RunError(f"Keras {version}'s trainer has no {name}; the multi-worker patch does not apply")
    multi_worker = tf_trainer._collective_all_reduce_multi_worker

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        # Fault 2: a scalar log value is mean-reduced across workers with axis=None, not axis=0.
        import tensorflow as tf

        if reduction not in ("auto", "mean") or not multi_worker(strategy) or isinstance(strategy, tf.distribute.TPUStrategy):
            return original_reduce(values, strategy, reduction)

        def one(v: Any) -> Any:
            local = strategy.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v
            if getattr(local.shape, "rank", None) == 0:
                return strategy.reduce("MEAN", v, axis=None)
            return original_reduce(v, strategy, reduction)

        return keras.tree.map_structure(one, values)

    def _maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        # Fault 1: the first batch is only needed for its shapes; take this worker's local replica
        # component instead of reducing a nest across workers.
        import tensorflow as tf

        if self._distribute_strategy is None:
            return
        strategy = self.distribute_strategy
        if iterator is not None:
            for item in iterator:  # (step, it) up to Keras 3.10, (begin, end, it) from 3.11
                batch = next(item[-1])
                data_batch = keras.tree.map_structure(
                    lambda x: strategy.experimental_local_results(x)[0] if isinstance(x, tf.distribute.DistributedValues) else x,
                    batch,
                )
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _PATCHED = True


class ReadOnlyBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Restore from the chief's backup; never write or delete it (every worker but the chief)."""

    def on_train_begin(self, logs: Any = None) -> None:
        try:
            self._load_model()
        except OSError:
            # The chief was killed while writing; read its previous backup without copying it.
            if not os.path.exists(self._prev_weights_path):
                raise
            self._weights_path, self._training_metadata_path = self._prev_weights_path, self._prev_training_metadata_path
            self._load_model()

    def _save_model(self) -> None:
        return None

    def on_train_end(self, logs: Any = None) -> None:
        return None
