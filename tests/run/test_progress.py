"""Training progress moves when Keras runs several steps per call (issue 15)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from kerun.run.callbacks import Progress  # noqa: E402


@pytest.mark.tf
def test_progress_counts_steps_as_keras_reports_them_and_keeps_moving() -> None:
    from rich.progress import SpinnerColumn, TimeElapsedColumn

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=4)
    progress = Progress(epochs=2, steps=8, batch_size=2, mode="rich", stream=io.StringIO())
    seen: list[tuple[int, Any]] = []
    real_begin = progress.on_train_begin

    def begin(logs: Any = None) -> None:
        real_begin(logs)
        columns = progress._progress.columns
        # animated columns, redrawn on rich's own thread while Keras runs a 4-step call
        assert any(isinstance(c, SpinnerColumn) for c in columns) and any(isinstance(c, TimeElapsedColumn) for c in columns)
        real_update = progress._progress.update
        progress._progress.update = lambda task, **kw: (seen.append((kw.get("completed"), kw.get("per_call"))), real_update(task, **kw))

    progress.on_train_begin = begin  # type: ignore[method-assign]
    x, y = np.zeros((16, 3), "float32"), np.zeros((16, 1), "float32")
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[progress])
    completed = [c for c, _ in seen if c is not None]
    assert completed == [4, 8, 8, 4, 8, 8]  # after each 4-step call, then the epoch's end


def test_the_steps_per_call_are_shown() -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=4)
    progress = Progress(epochs=1, steps=8, batch_size=2, mode="rich", stream=io.StringIO())
    progress.set_model(model)
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    task = progress._progress.tasks[0]
    assert task.fields["per_call"] == "(4 steps a call)" and task.total == 8
    # long metrics are cut to the room left on the line, so rich never squeezes the counts and times
    width = progress._progress.console.width
    cut = progress._fit("  ".join(f"metric_{i} 0.1234" for i in range(40)), "1,234 samples/s")
    assert cut.endswith("…") and len(cut) < width - 60
    progress.close()
