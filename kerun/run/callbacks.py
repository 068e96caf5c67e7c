"""Callbacks kerun adds to every run: history files, progress, NaN detection, atomic checkpoints."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import keras
from keras.src.utils import io_utils

from kerun.errors import RunError
from kerun.run.rundir import BACKUP, HISTORY_CSV, HISTORY_JSON, RunDir, atomic_path
from kerun.spec.callback_paths import HINT as PATH_HINT, confine

__all__ = ["AtomicModelCheckpoint", "HistoryWriter", "NanGuard", "Progress", "weights_finite"]


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


HISTORY_PACE = 20
"""The history files are rewritten after an epoch when the time since they were last written is at
least this many times what that write took (every epoch unless epochs are very short)."""


class HistoryWriter(keras.callbacks.Callback):
    """history.csv and history.json rewritten atomically after epochs, paced by :data:`HISTORY_PACE`
    (two fsynced files cost more than a short epoch trains), and always at the end of training,
    before every backup (``flush``) and when the session closes.

    On a resumed run the rows from the epoch training restarts at onwards are dropped first, so the
    history has neither a gap nor a duplicate.
    """

    def __init__(self, run: RunDir) -> None:
        super().__init__()
        self.run = run
        self.started = False
        self.rows: list[dict[str, Any]] = _read_json_rows(run) or _read_csv_rows(run)
        self._t0 = 0.0
        self._written = len(self.rows)
        self._last_write: float | None = None
        self._write_cost = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.started:
            self.rows = [r for r in self.rows if r["epoch"] < epoch + 1]
            self.started = True
            if self.run.writer and [r["epoch"] for r in self.rows] != list(range(1, epoch + 1)):
                have = [r["epoch"] for r in self.rows]
                raise RunError(
                    f"the run's backup holds {epoch} epochs but its history has "
                    + (f"only epochs {_ranges(have)}" if have else "none of them")
                    + f" ({HISTORY_JSON} and {HISTORY_CSV} are missing or cut short); resuming would leave a gap",
                    hint=f"put back {HISTORY_JSON} or {HISTORY_CSV} of {self.run.path}, or train the spec as a new run")
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        row: dict[str, Any] = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            row[key] = _float(value)
        if "learning_rate" not in row:
            lr = getattr(getattr(self.model, "optimizer", None), "learning_rate", None)
            if lr is not None:
                row["learning_rate"] = _float(keras.ops.convert_to_numpy(lr))
        row["seconds"] = round(time.perf_counter() - self._t0, 4)
        self.rows.append(row)
        now = time.perf_counter()
        if self._last_write is None or now - self._last_write >= HISTORY_PACE * self._write_cost:
            self.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.flush_pending()

    def flush_pending(self) -> None:
        """Write the files if rows were added since they were last written."""
        if self._written != len(self.rows):
            self.flush()

    def flush(self) -> None:
        if not self.run.writer:
            return
        start = time.perf_counter()
        self.run.write_json(HISTORY_JSON, self.rows)
        keys: list[str] = []
        for row in self.rows:
            keys.extend(k for k in row if k not in keys)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        self.run.write_text(HISTORY_CSV, buf.getvalue())
        self._written = len(self.rows)
        self._last_write = time.perf_counter()
        self._write_cost = self._last_write - start


def weights_finite(model: Any) -> bool:
    """Whether every weight of ``model`` (optimizer state aside) is a finite number."""
    import numpy as np

    for w in model.weights:
        value = keras.ops.convert_to_numpy(w)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            return False
    return True


def _read_json_rows(run: RunDir) -> list[dict[str, Any]]:
    """history.json's rows, or [] when it is missing, cut short or not a list of epoch rows."""
    try:
        rows = json.loads(run.file(HISTORY_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    ok = isinstance(rows, list) and all(isinstance(r, dict) and isinstance(r.get("epoch"), int) for r in rows)
    return rows if ok else []


def _read_csv_rows(run: RunDir) -> list[dict[str, Any]]:
    """The rows rebuilt from history.csv (written with history.json), as far as they are whole."""
    rows: list[dict[str, Any]] = []
    try:
        with open(run.file(HISTORY_CSV), newline="", encoding="utf-8") as fh:
            for record in csv.DictReader(fh):
                if None in record or None in record.values() or not (record.get("epoch") or "").isdigit():
                    break  # a cut-short line: keep the whole rows before it
                rows.append({k: int(v) if k == "epoch" else _float(v) for k, v in record.items() if v != ""})
    except (OSError, csv.Error, UnicodeDecodeError):
        return rows
    return rows


def _ranges(epochs: list[int]) -> str:
    return ", ".join(str(e) for e in epochs) if len(epochs) <= 6 else f"{epochs[0]}..{epochs[-1]} with gaps"


class NanGuard(keras.callbacks.Callback):
    """Stop at the first batch whose loss is NaN or infinite, and remember where."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0
        self.reason: str | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(_float(loss)):
            self.reason = f"the loss became {_float(loss)} in epoch {self.epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint whose file appears whole or not at all (written beside, then renamed), only
    inside ``root`` once Keras has formatted its path, and never of weights that are not finite."""

    def __init__(self, filepath: str | Path, *, root: Path | None = None, **kwargs: Any) -> None:
        super().__init__(str(filepath), **kwargs)
        self._template = str(filepath)
        self.root = root
        self.saved: list[Path] = []

    def _save_model(self, epoch: int, batch: Any, logs: dict[str, Any]) -> None:  # type: ignore[override]
        self.filepath = self._template
        try:
            formatted = self._get_file_path(epoch, batch, logs)
        except KeyError as exc:
            known = ", ".join(["epoch", "batch", *sorted(logs or {})])
            raise RunError(f"ModelCheckpoint: the filepath {self._template!r} names a value training does not log: {exc}",
                           hint=f"the values that can be filled in: {known}") from None
        final = Path(formatted)
        if self.root is not None:
            try:
                final = confine(self.root, formatted)
            except ValueError as exc:
                raise RunError(f"ModelCheckpoint: {exc}", hint=PATH_HINT) from None
        if not weights_finite(self.model):
            raise _NotSaved()
        # Keras logs the path it writes to; the user is told the final name, never the temporary one
        self._final, self._loud, self.verbose = final, self.verbose, 0
        with atomic_path(final) as tmp:
            self.filepath = str(tmp)
            try:
                super()._save_model(epoch, batch, logs)
            finally:
                self.filepath, self.verbose = self._template, self._loud
            if tmp.stat().st_size == 0:  # not an improvement: nothing was saved this time
                raise _NotSaved()
        self.saved.append(final)
        if self._loud > 0:
            io_utils.print_msg(f"\nEpoch {epoch + 1}: finished saving model to {final}")

    def _should_save_model(self, epoch: int, batch: Any, logs: dict[str, Any], filepath: str) -> bool:  # type: ignore[override]
        self.verbose = self._loud
        try:
            return bool(super()._should_save_model(epoch, batch, logs, str(self._final)))
        finally:
            self.verbose = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        try:
            super().on_epoch_end(epoch, logs)
        except _NotSaved:
            pass

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        try:
            super().on_train_batch_end(batch, logs)
        except _NotSaved:
            pass


class _NotSaved(Exception):
    pass


def kept_after_nan(run: RunDir, callbacks: list[Any]) -> str:
    """What a run stopped by a NaN or infinite loss keeps, truthfully: non-finite weights are
    never backed up nor checkpointed, so the backup is the last epoch that ended finite."""
    epoch = run.backed_up_epoch()
    parts = [f"the backup in {run.file(BACKUP)} holds epoch {epoch}, the last with finite weights" if epoch
             else "no epoch ended with finite weights, so nothing was backed up"]
    for cb in callbacks:
        if isinstance(cb, AtomicModelCheckpoint):
            saved = [str(p) for p in dict.fromkeys(cb.saved) if p.exists()]
            parts.append(f"checkpoints kept (finite weights): {', '.join(saved[-3:])}" if saved else "no checkpoint was saved")
    return "; ".join(parts)


def _fmt(value: Any) -> str:
    v = _float(value)
    if v != v:
        return "nan"
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"


def _steps_per_execution(model: Any) -> int:
    """The steps Keras runs between two batch callbacks (1 when unknown)."""
    value = getattr(model, "steps_per_execution", None) or getattr(model, "_steps_per_execution", None)
    try:
        return max(1, int(keras.ops.convert_to_numpy(value))) if value is not None else 1
    except (TypeError, ValueError):
        return 1


class Progress(keras.callbacks.Callback):
    """Rich progress bars on a terminal; one line per epoch otherwise (CI logs); nothing if quiet."""

    def __init__(self, *, epochs: int, steps: int | None, batch_size: int, mode: str = "auto", stream: Any = None) -> None:
        super().__init__()
        self.epochs = epochs
        self.steps = steps
        self.batch_size = batch_size
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "rich" if getattr(self.stream, "isatty", lambda: False)() else "plain"
        self.mode = mode
        self._progress: Any = None
        self._task: Any = None
        self._t0 = 0.0
        self._seen = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.mode == "rich":
            from rich.console import Console
            from rich.table import Column
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn)

            # With several steps per execution Keras reports steps only every so many (or once an
            # epoch): the spinner and the elapsed time, redrawn ten times a second, show it is working.
            self._progress = RichProgress(
                SpinnerColumn(finished_text="[green]✓"),
                TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}", table_column=Column(no_wrap=True)),
                BarColumn(bar_width=24),
                MofNCompleteColumn(table_column=Column(no_wrap=True)),
                TextColumn("{task.fields[per_call]}", table_column=Column(no_wrap=True)),
                TimeElapsedColumn(table_column=Column(no_wrap=True)),
                TextColumn("{task.fields[rate]}", table_column=Column(no_wrap=True)),
                # the metrics are cut to the width left (see _fit), so the counts and times stay whole
                TextColumn("{task.fields[metrics]}", table_column=Column(ratio=1)),
                console=Console(file=self.stream),
                refresh_per_second=10,
                transient=False,
            )
            self._progress.start()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._t0 = time.perf_counter()
        self._seen = 0
        self._epoch = epoch
        if self._progress is not None:
            per_call = _steps_per_execution(self.model)
            self._task = self._progress.add_task(
                "train", total=self.steps, epoch=epoch + 1, epochs=self.epochs, rate="", metrics="",
                per_call=f"({per_call} steps a call)" if per_call > 1 else "",
            )

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._begin = batch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._seen = self._steps_done(batch)
        if self._progress is not None and self._task is not None:
            elapsed = max(time.perf_counter() - self._t0, 1e-9)
            rate = f"{self._seen * self.batch_size / elapsed:,.0f} samples/s"
            metrics = "  ".join(f"{k} {_fmt(v)}" for k, v in (logs or {}).items())
            self._progress.update(self._task, completed=self._seen, rate=rate, metrics=self._fit(metrics, rate))

    def _steps_done(self, batch: int) -> int:
        """The steps done after a call of several steps. Keras 3.15 numbers the call's end by its
        last step; Keras 3.7 by its first, the number it gave the call's beginning: a call whose
        two numbers are equal then counts its whole length, cut to the epoch's steps."""
        per_call = _steps_per_execution(self.model) if self.model is not None else 1
        begin = getattr(self, "_begin", None)
        if batch != begin:
            self._numbered_by_last = True
        if per_call == 1 or batch != begin or getattr(self, "_numbered_by_last", False):
            return batch + 1
        return min(batch + per_call, self.steps) if self.steps else batch + per_call

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        elapsed = time.perf_counter() - self._t0
        metrics = "  ".join(f"{k} {_fmt(v)}" for k, v in (logs or {}).items() if k != "learning_rate")
        if self._progress is not None and self._task is not None:
            rate = self._progress.tasks[-1].fields.get("rate", "") if self._progress.tasks else ""
            self._progress.update(self._task, completed=self._seen, total=self._seen, metrics=self._fit(metrics, rate))
        elif self.mode == "plain":
            rate = self._seen * self.batch_size / elapsed if elapsed > 0 else 0.0
            self.stream.write(f"epoch {epoch + 1}/{self.epochs}  {metrics}  ({elapsed:.1f}s, {rate:,.0f} samples/s)\n")
            self.stream.flush()

    def _fit(self, metrics: str, rate: str) -> str:
        """``metrics`` cut to what the terminal has left after the bar, the counts and the times
        (else rich squeezes every column and cuts those short)."""
        if self._progress is None:
            return metrics
        steps = len(str(self.steps or self._seen)) * 2 + 1
        per_call = _steps_per_execution(self.model)
        used = 2 + len(f"epoch {self.epochs}/{self.epochs}") + 1 + 24 + 1 + steps + 1 + (len(f"({per_call} steps a call)") + 1 if per_call > 1 else 1) \
            + 8 + len(rate) + 2
        room = max(12, self._progress.console.width - used)
        return metrics if len(metrics) <= room else metrics[: room - 1] + "…"

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
