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

:func:`join_cluster` bounds the wait for the other workers (:data:`CLUSTER_WAIT_ENV`): TensorFlow
alone waits forever, silently, for a peer that never comes (tests/orchestrate/test_netns.py).

:class:`ReadOnlyBackupAndRestore` is the backup callback of every worker but the chief: it restores
from the chief's backup and never writes (one shared backup folder written by all crashes on the
HDF5 file lock).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import keras

from kerun.errors import RunError

__all__ = [
    "VERIFIED_KERAS",
    "ReadOnlyBackupAndRestore",
    "CLUSTER_WAIT",
    "CLUSTER_WAIT_ENV",
    "cluster_from_env",
    "cluster_wait",
    "join_cluster",
    "multi_worker_strategy",
    "patch_keras",
]

VERIFIED_KERAS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
"""Keras minor versions whose trainer the patch was verified with: two workers trained the
tests/orchestrate/test_multiworker.py spec to identical losses and metrics, with TensorFlow 2.18
(3.7 to 3.14) and 2.21 (3.15). Outside them multi_worker_mirrored is refused, not patched blindly."""

CLUSTER_WAIT_ENV = "KERUN_CLUSTER_WAIT"
CLUSTER_WAIT = 300.0
"""Seconds a worker waits for every other worker of its cluster before it fails with a RunError
naming the silent ones (TensorFlow alone would wait forever): workers on separate hosts may start
minutes apart (a pod pulling its image); ``KERUN_CLUSTER_WAIT`` sets another bound."""

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


def cluster_wait() -> float:
    """Seconds a worker waits for the whole cluster (:data:`CLUSTER_WAIT_ENV`, default :data:`CLUSTER_WAIT`)."""
    raw = os.environ.get(CLUSTER_WAIT_ENV, "").strip()
    if not raw:
        return CLUSTER_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise RunError(f"{CLUSTER_WAIT_ENV}={raw!r}: expected a positive number of seconds",
                       hint=f"unset it for the default of {CLUSTER_WAIT:.0f} s")
    return value


def split_address(address: str) -> tuple[str, int]:
    """``host:port``, ``1.2.3.4:port`` or ``[v6]:port`` of a TF_CONFIG cluster entry."""
    host, sep, port = str(address).rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RunError(f"TF_CONFIG's cluster address {address!r} is not host:port",
                       hint="write every worker as host:port, e.g. 10.0.0.2:2222 or worker-1.svc:2222")
    return host, int(port)


def _peers(config: dict[str, Any]) -> list[str]:
    task = config["task"]
    mine = config["cluster"][task["type"]][task["index"]]
    return [a for kind in ("chief", "worker") for a in config["cluster"].get(kind, []) if a != mine]


_WATCHDOG = r"""
import json, os, select, signal, socket, sys, time
wait, parent, peers, me, run_dir = float(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], sys.argv[5]
deadline, answered = time.monotonic() + wait, set()

def answers(address):
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
            return True
    except OSError:
        return False

while time.monotonic() < deadline:
    if select.select([0], [], [], max(0.0, min(1.0, deadline - time.monotonic())))[0]:
        sys.exit(0)  # the end of the pipe: the cluster came together, or the worker is gone
    answered.update(a for a in peers if a not in answered and answers(a))
from kerun.errors import RunError
silent = [a for a in peers if a not in answered]
error = RunError(
    f"the cluster did not come together within {wait:g} s ({me}): "
    + (f"no answer from {', '.join(silent)}" if silent else f"{', '.join(peers)} answered but did not join"),
    hint=f"start every worker with the same TF_CONFIG cluster within KERUN_CLUSTER_WAIT seconds of each other "
    "(default 300); check the addresses, and that the ports are open between the hosts")
if run_dir and os.path.isfile(os.path.join(run_dir, "manifest.json")):
    try:
        from pathlib import Path
        from kerun.run.rundir import RunDir
        run = RunDir.open(Path(run_dir))
        if run.manifest.get("pid") == parent:
            run.finish("failed", error=error.render(), epochs_completed=0)
    except Exception:
        pass
sys.stderr.write("kerun train: error: " + error.render() + "\n")
sys.stderr.flush()
os.kill(parent, signal.SIGKILL)
"""


def join_cluster(make: Callable[[], Any], config: dict[str, Any], wait: float, *, run_dir: str = "") -> Any:
    """``make()`` (the strategy's constructor, which blocks until every worker has joined), given
    ``wait`` seconds at most.

    TensorFlow waits for a missing peer without a message and without an end (its coordination
    service's register timeout did not end the wait here), inside a call that holds Python's GIL:
    no thread of this process can run meanwhile. A small watchdog process (standard library and
    kerun.errors only) holds the other end of a pipe; when the constructor returns the pipe is
    closed and the watchdog exits. At the deadline it prints a RunError naming the peers that never
    accepted a connection, marks the chief's run folder failed, and SIGKILLs this worker (TensorFlow
    catches SIGTERM)."""
    import subprocess
    import sys

    peers = _peers(config)
    for address in peers:
        split_address(address)
    task = config["task"]
    me = f"{task['type']} {task['index']} at {config['cluster'][task['type']][task['index']]}"
    chief_dir = run_dir if _leads(config) else ""
    try:
        stderr: Any = sys.stderr.fileno()  # the terminal: descriptor 2 goes through a Python thread (kerun.tfenv)
    except (AttributeError, OSError, ValueError):
        stderr = None
    read_end, write_end = os.pipe()
    try:
        watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, repr(wait), str(os.getpid()), json.dumps(peers), me, chief_dir],
                                    stdin=read_end, stdout=subprocess.DEVNULL, stderr=stderr)
    finally:
        os.close(read_end)
    try:
        return make()
    except Exception as exc:
        if "Could not start gRPC server" not in str(exc):  # tf.errors.UnknownError, nothing more specific
            raise
        mine = config["cluster"][task["type"]][task["index"]]
        raise RunError(f"{me}: TensorFlow could not listen on port {split_address(mine)[1]} ({exc})",
                       hint="another process holds the port (a worker of an earlier run still alive?); free it, or "
                       "give this worker another port in every worker's TF_CONFIG") from None
    finally:
        os.close(write_end)
        watchdog.wait()


def _leads(config: dict[str, Any]) -> bool:
    """The chief: the ``chief`` task, or worker 0 of a cluster without one (it writes the run folder)."""
    task, cluster = config["task"], config["cluster"]
    return task["type"] == "chief" or ("chief" not in cluster and task["type"] == "worker" and task["index"] == 0)


def multi_worker_strategy() -> Any:
    """The process's ``MultiWorkerMirroredStrategy`` (created once), Keras patched for it."""
    global _STRATEGY
    if _STRATEGY is not None:
        return _STRATEGY
    config = cluster_from_env()
    wait = cluster_wait()
    patch_keras()
    import tensorflow as tf

    from kerun.run.rundir import RUN_DIR_ENV

    _STRATEGY = join_cluster(tf.distribute.MultiWorkerMirroredStrategy, config, wait, run_dir=os.environ.get(RUN_DIR_ENV, ""))
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
