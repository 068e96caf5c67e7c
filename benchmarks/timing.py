"""What every benchmark child process reports: a Keras callback that times the epochs and the
first training step, and one JSON line of results written at exit.

The parent passes ``KERUN_BENCH_T0`` (``time.time()`` just before it started the child) and
``KERUN_BENCH_OUT`` (where to write the JSON). Imported by both the kerun child and the
hand-written scripts, so both are timed by the same code.
"""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

T0 = float(os.environ.get("KERUN_BENCH_T0", time.time()))


def epoch_timer(samples_per_epoch: int) -> Any:
    """A fresh Keras callback; add it last so an epoch's time includes every other callback."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.first_step: float | None = None
            self.train_begin: float | None = None
            self.epoch_ends: list[float] = []

        def on_train_begin(self, logs: Any = None) -> None:
            self.train_begin = time.time() - T0

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            if self.first_step is None:
                self.first_step = time.time() - T0

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.epoch_ends.append(time.perf_counter())

        def result(self) -> dict[str, Any]:
            ends = self.epoch_ends
            seconds = ends[-1] - ends[0] if len(ends) > 1 else None
            return {
                "first_step_s": self.first_step,
                "train_begin_s": self.train_begin,
                "epochs": len(ends),
                "samples_per_s": samples_per_epoch * (len(ends) - 1) / seconds if seconds else None,
                "epoch_seconds": [b - a for a, b in zip(ends, ends[1:])],
            }

    return EpochTimer()


def write_result(result: dict[str, Any]) -> None:
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["wall_s"] = time.time() - T0
    out = os.environ.get("KERUN_BENCH_OUT")
    text = json.dumps(result)
    if out:
        with open(out, "w") as f:
            f.write(text)
    else:
        print(text)
