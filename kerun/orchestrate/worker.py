"""A warm worker: imports TensorFlow once, then runs one job after another (``kerun check`` specs,
``kerun sweep`` trials), each as a fresh process would run it, as far as Keras allows.

Started by :class:`kerun.orchestrate.workers.WorkerPool` as ``python -m kerun.orchestrate.worker``.
Jobs arrive on standard input, one JSON object a line; the worker answers on a channel of its own
(the file descriptor named by ``KERUN_WORKER_FD``): ``ready`` once TensorFlow is imported, the
``stage`` a check has reached, the ``result`` of each job with this process's resident memory.
Everything a job prints (standard output and error) goes to the parent, which files it under that
job, up to the end marker the worker prints after each job. End of input ends the worker.

Between jobs (:func:`fresh_state`): ``keras.backend.clear_session()``; Python's, NumPy's and
TensorFlow's global seeds reset (unset, as in a new process; a spec with a ``seed`` sets its own);
Keras's registered custom objects and kerun's record of imported plugin files restored, and the
modules a job's plugins imported removed; Keras's floatx, epsilon, image data format and global
dtype policy restored; environment, working folder, ``sys.argv`` and signal handlers restored.
What cannot be undone in-process (a plugin that patches Keras itself, memory TensorFlow keeps) is
why the parent replaces a worker whose memory passes a bound, and why ``--isolate`` exists.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from kerun.orchestrate.child import MESSAGE_PREFIX, RUN_DIR_ENV, message_line

__all__ = ["END_MARKER", "FD_ENV", "fresh_state", "main", "rss_mb"]

FD_ENV = "KERUN_WORKER_FD"
END_MARKER = MESSAGE_PREFIX + "end"
"""Printed (to the job's output) after each job, so the parent knows the job's output is complete."""


def rss_mb() -> float | None:
    """This process's resident memory now, in MB (Linux; None elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _kept_module(name: str, module: Any, keep_roots: tuple[str, ...]) -> bool:
    """Modules a job imported that stay: the installed packages' and kerun's own (lazily imported
    parts of TensorFlow must never be unloaded); plugin modules go."""
    if name.startswith("kerun_plugin_"):
        return False
    file = getattr(module, "__file__", None)
    return file is None or os.path.abspath(file).startswith(keep_roots)


@contextlib.contextmanager
def fresh_state() -> Iterator[None]:
    """Run a job as a new process would, and put back afterwards what it changed (see the module's
    docstring for what is covered)."""
    import keras
    import numpy as np
    import tensorflow as tf
    from keras.src.saving import object_registration as registry

    from kerun.model import plugins

    environ, cwd, argv = dict(os.environ), os.getcwd(), list(sys.argv)
    modules = set(sys.modules)
    custom, names = dict(registry.GLOBAL_CUSTOM_OBJECTS), dict(registry.GLOBAL_CUSTOM_NAMES)
    imported_plugins = dict(plugins._loaded)
    config = (keras.config.floatx(), keras.config.epsilon(), keras.config.image_data_format(), keras.config.dtype_policy())
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    eager = tf.config.functions_run_eagerly()
    keep_roots = tuple({os.path.abspath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
                       | {str(Path(__file__).resolve().parents[1]) + os.sep})

    def reset() -> None:
        keras.backend.clear_session(free_memory=False)
        random.seed()
        np.random.seed(None)
        tf.random.set_seed(None)

    reset()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(cwd)
        sys.argv[:] = argv
        for s, h in handlers.items():
            signal.signal(s, h)
        for name in set(sys.modules) - modules:
            if not _kept_module(name, sys.modules.get(name), keep_roots):
                sys.modules.pop(name, None)
        registry.GLOBAL_CUSTOM_OBJECTS.clear()
        registry.GLOBAL_CUSTOM_OBJECTS.update(custom)
        registry.GLOBAL_CUSTOM_NAMES.clear()
        registry.GLOBAL_CUSTOM_NAMES.update(names)
        plugins._loaded.clear()
        plugins._loaded.update(imported_plugins)
        keras.config.set_floatx(config[0])
        keras.config.set_epsilon(config[1])
        keras.config.set_image_data_format(config[2])
        keras.config.set_dtype_policy(config[3])
        tf.config.run_functions_eagerly(eager)
        reset()
        gc.collect()


class _AskParent:
    """A pruned sweep's question after each epoch, without waiting for the parent: ``report``
    (epoch, objective) goes on the channel and training goes on; the answer to the previous
    epoch's report (``{"prune": bool}``, one line on standard input, where jobs arrive: the parent
    sends no job while this one runs) is read now, so epoch k stops on the study's verdict at epoch
    k-1, the same verdict however long the parent took (it is waited for if not there yet), and
    the study's round trip overlaps an epoch's training instead of adding to it. :meth:`drain`
    reads the answers still due once training ends. No answer (input closed) is "go on"."""

    def __init__(self, send: Callable[..., None]) -> None:
        self.send = send
        self.due = 0  # reports not answered yet

    def _read(self) -> bool:
        self.due -= 1
        line = sys.stdin.readline()
        if not line:
            self.due = 0
            return False
        try:
            return bool(json.loads(line).get("prune"))
        except (json.JSONDecodeError, AttributeError):
            return False

    def __call__(self, epoch: int, value: float) -> bool:
        self.send("report", epoch=epoch, value=value)
        self.due += 1
        return self._read() if self.due > 1 else False

    def drain(self) -> None:
        while self.due > 0:
            self._read()


def train_job(job: dict[str, Any], send: Callable[..., None] | None = None) -> dict[str, Any]:
    """What ``kerun train SPEC --set ... --json`` with ``KERUN_RUN_DIR`` would print and exit with;
    with ``report`` (a pruned sweep's trial), each epoch's objective is reported to the parent."""
    from kerun.errors import KerunError
    from kerun.run.train import TrainOptions, train
    from kerun.spec import load_spec

    overrides = list(job.get("overrides", []))
    sys.argv[:] = ["kerun", "train", job["spec"], *[a for o in overrides for a in ("--set", o)], "--json"]
    run_dir = Path(job["run_dir"]) if job.get("run_dir") else None  # what the CLI reads from RUN_DIR_ENV
    callbacks, ask = [], _AskParent(send) if job.get("report") and send is not None else None
    if ask is not None:
        from kerun.run.pruning import PruneOnReport

        callbacks.append(PruneOnReport(job["report"], ask))
    try:
        result = train(load_spec(job["spec"], overrides), TrainOptions(progress="quiet", run_dir=run_dir, callbacks=callbacks))
    except KerunError as exc:
        return {"exit_code": exc.exit_code, "output": json.loads(exc.to_json())}
    except KeyboardInterrupt:
        ask = None  # stopping: the parent answers no more (and closes the input)
        raise
    except Exception:  # a bug: its traceback goes to the trial's log, as the command line prints it
        traceback.print_exc()
        return {"exit_code": 1, "output": None}
    finally:
        if ask is not None:
            ask.drain()  # the answers still due, read before the next job's line
    return {"exit_code": 0, "output": result.to_dict()}


def check_job(job: dict[str, Any], stage: Callable[[str], None]) -> dict[str, Any]:
    from kerun.orchestrate.check_worker import check_one

    os.environ.pop(RUN_DIR_ENV, None)
    return check_one(Path(job["spec"]), Path(job["runs_dir"]), steps=int(job["steps"]), synthetic=bool(job["synthetic"]),
                     overrides=list(job.get("overrides", [])), stage=stage)


def main() -> int:
    from kerun.orchestrate.lifeline import hold

    hold()
    channel = os.fdopen(int(os.environ.pop(FD_ENV)), "w", buffering=1, encoding="utf-8")
    t0 = time.perf_counter()
    from kerun.tfenv import filter_native_stderr, quiet_tensorflow

    filter_native_stderr()  # as the command line does for kerun train
    quiet_tensorflow()
    import keras  # noqa: F401

    import kerun.orchestrate.check_worker  # noqa: F401  (everything a job needs, imported before the first)
    import kerun.run.train  # noqa: F401

    # What is imported now lives as long as the worker: out of the collector's sight, so that the
    # collections Keras asks for (clear_session) look at a job's objects only (0.86 s -> ms each).
    gc.collect()
    gc.freeze()

    def send(kind: str, **data: Any) -> None:
        channel.write(message_line(kind, **data))
        channel.flush()

    send("ready", pid=os.getpid(), seconds=round(time.perf_counter() - t0, 3))
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        if not isinstance(job, dict) or "kind" not in job:
            continue  # not a job: an answer to a report no training waits for any more
        with fresh_state():
            if job["kind"] == "check":
                result = check_job(job, lambda name: send("stage", name=name))
            else:
                result = train_job(job, send)
        sys.stdout.flush()
        sys.stderr.flush()
        print(END_MARKER, flush=True)
        send("result", id=job.get("id"), result=result, rss_mb=rss_mb())
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
