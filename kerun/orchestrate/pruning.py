"""Pruned sweeps, the parent's side: ``sweep.pruner`` as an Optuna pruner, and the answer to a
trial's report after each epoch.

How a trial reports (and why this way): the trial trains in a warm worker, which imports
TensorFlow; the study lives here, in the sweep's process, which never does. After every epoch the
worker's callback (:class:`kerun.run.pruning.PruneOnReport`) sends a ``report`` message (epoch,
objective) on its channel and waits; :class:`Reporter` calls ``trial.report(value, epoch)`` and
``trial.should_prune()`` and the answer goes back as one line on the worker's input. The worker
does not wait for it: it reads the verdict on epoch k at the end of epoch k+1 (waiting only if it
is not there yet), so a hopeless trial stops one epoch after the verdict, the same epoch whatever
the load, and the study's round trip (a SQLite write, tens of ms, more on a loaded machine)
overlaps training instead of adding to every epoch. The trial
never opens the study itself: the study has one writer (the same storage for a SQLite file and a
``--storage`` server), workers need neither Optuna nor the storage's credentials, and a trial
started by hand (``kerun train``) behaves as before.

The intermediate value is the objective read from the epoch's Keras logs: ``val_<m>`` for an
objective on the validation split, ``<m>`` (the training split, as Keras averages it over the
epoch) for one on the training split. An objective on the test split is measured once, after
training, so a pruner cannot use it: such a sweep is refused before its first trial.

A pruned trial is ``PRUNED`` in the study (Optuna keeps its last reported value as its value), its
run folder is whole with the status ``pruned`` (model, metrics, curves), ``trials.csv`` says
``pruned`` and the epoch; it is never the best, and never a failure.
"""

from __future__ import annotations

import threading
from typing import Any

from kerun.errors import SpecError
from kerun.spec import LoadedSpec

__all__ = ["Reporter", "check_pruner", "make_pruner", "report_metric"]


def report_metric(loaded: LoadedSpec) -> str | None:
    """The key of the objective in an epoch's Keras logs, or None when the sweep prunes nothing."""
    sweep = loaded.spec.sweep
    if sweep is None or sweep.pruner.type == "none":
        return None
    return sweep.objective.metric


def check_pruner(loaded: LoadedSpec) -> None:
    """Refuse a pruner that could never act: an objective measured only after training."""
    metric = report_metric(loaded)
    if metric is not None and metric.startswith("test_"):
        path = ("sweep", "pruner")
        raise SpecError(
            f"sweep.pruner {loaded.spec.sweep.pruner.type!r} needs the objective after every epoch, "  # type: ignore[union-attr]
            f"but {metric!r} is measured on the test split once training has ended",
            location=loaded.doc.locate(path), path=path,
            hint=f"make the objective a validation metric (val_{metric[len('test_'):]}) or a training one, or use pruner: none")


def make_pruner(loaded: LoadedSpec, trials: int) -> Any:
    """The Optuna pruner of ``sweep.pruner`` (Optuna's ``NopPruner`` for ``none``).

    Median, for small sweeps: ``startup_trials`` (a quarter of the trials, 2 to 5) complete before
    any trial is compared with them, and no trial is pruned before ``min_epochs`` (2) epochs:
    one epoch of a slow start is not enough evidence. Hyperband: from ``min_epochs`` (1) up to
    the spec's ``train.epochs``, reduction factor 3."""
    import optuna

    spec = loaded.spec.sweep.pruner  # type: ignore[union-attr]
    if spec.type == "median":
        startup = spec.startup_trials if spec.startup_trials is not None else min(5, max(2, trials // 4))
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=spec.min_epochs or 2)
    if spec.type == "hyperband":
        epochs = loaded.spec.train.epochs
        low = min(spec.min_epochs or 1, epochs)
        return optuna.pruners.HyperbandPruner(min_resource=low, max_resource=max(epochs, low), reduction_factor=3)
    return optuna.pruners.NopPruner()


class Reporter:
    """Answers one trial's reports: records the epoch's value in the study, says whether to stop.
    Called from the thread that runs the trial; the study is shared by the sweep's threads."""

    def __init__(self, trial: Any, lock: threading.Lock) -> None:
        self.trial = trial
        self.lock = lock
        self.pruned_at: int | None = None

    def __call__(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            epoch, value = int(message["epoch"]), float(message["value"])
        except (KeyError, TypeError, ValueError):
            return {"prune": False}
        with self.lock:
            self.trial.report(value, epoch)
            prune = bool(self.trial.should_prune())
        if prune:
            self.pruned_at = epoch
        return {"prune": prune}
