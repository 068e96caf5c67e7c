"""The training side of a pruned sweep: a Keras callback that reports each epoch's objective and
stops the run at the end of the epoch its sweep says is hopeless.

The callback knows nothing of Optuna or of the study: it calls ``ask(epoch, value)`` (given by the
warm worker, :mod:`kerun.orchestrate.worker`, which passes the question to the sweep over the
child protocol, and answers with the study's verdict on the epoch before, so that the round trip
overlaps the next epoch's training) and, on ``True``, sets ``model.stop_training``. The run then ends as any run does
(model saved and loaded back, every split evaluated, curves drawn), with the status ``pruned``
and the epoch it stopped at in its manifest (:func:`outcome`).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import keras

__all__ = ["PruneOnReport", "outcome"]


class PruneOnReport(keras.callbacks.Callback):
    """Report ``logs[metric]`` after every epoch (epochs counted from 1); stop when told to."""

    def __init__(self, metric: str, ask: Callable[[int, float], bool]) -> None:
        super().__init__()
        self.metric = metric
        self.ask = ask
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.metric)
        if value is None:
            return
        value = float(value)
        if not math.isfinite(value):
            return  # NanGuard stops this run already; a NaN tells a pruner nothing
        if self.ask(epoch + 1, value):
            self.pruned_at = epoch + 1
            self.model.stop_training = True


def outcome(callbacks: list[Any]) -> tuple[str, dict[str, Any]]:
    """The status a finished run gets from its caller's callbacks: ``pruned`` (with the epoch it
    stopped at) if one of them pruned it, else ``completed``."""
    for cb in callbacks:
        if isinstance(cb, PruneOnReport) and cb.pruned_at is not None:
            return "pruned", {"pruned_at_epoch": cb.pruned_at}
    return "completed", {}
