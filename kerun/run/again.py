"""``kerun train --again RUN``: train a run's spec once more, as it was, and compare the results.

The new run uses the run's own ``spec.yaml`` (overrides already applied, seed included) in a new
folder beside it, and is told which run it repeats (``repeats`` in its manifest). The data is
compared with what the first run recorded (a warning when it changed), and the final metrics of
both runs are set side by side. With the same seed on the same machine they agree to float32
rounding; with ``train.deterministic: true``, to the bit (README, "Repeatability").
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerun.errors import RunError
from kerun.run.options import RunResult, TrainOptions
from kerun.run.rundir import METRICS, RunDir

__all__ = ["MetricChange", "compare_metrics", "train_again"]


@dataclass(frozen=True)
class MetricChange:
    split: str
    metric: str
    before: float | None
    after: float | None

    @property
    def difference(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "metric": self.metric, "before": self.before, "after": self.after,
                "difference": self.difference}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def compare_metrics(before: dict[str, Any], after: dict[str, Any]) -> list[MetricChange]:
    """Every (split, metric) of either run, in the first run's order, then the new ones."""
    rows: list[MetricChange] = []
    splits = list(before) + [s for s in after if s not in before]
    for split in splits:
        old = before.get(split) if isinstance(before.get(split), dict) else {}
        new = after.get(split) if isinstance(after.get(split), dict) else {}
        for metric in list(old) + [m for m in new if m not in old]:
            rows.append(MetricChange(split, metric, _number(old.get(metric)), _number(new.get(metric))))
    return rows


def train_again(run_path: Path, options: TrainOptions | None = None) -> tuple[RunResult, list[MetricChange]]:
    """Train ``run_path``'s spec again in a new run folder; return the new result and the metrics
    of both runs side by side."""
    from kerun.run.provenance import data_changes, fingerprint_sources
    from kerun.run.train import train

    previous = RunDir.open(run_path)
    if previous.manifest.get("status") != "completed":
        raise RunError(f"the run {run_path} is {previous.effective_status()}, not completed: there are no results to repeat",
                       hint=f"continue it instead: kerun train --resume {run_path}")
    loaded = previous.load_spec()
    if loaded.spec.seed is None:
        print(f"kerun: warning: {run_path.name} has no seed, so its repeat draws other weights and splits", file=sys.stderr)
    changes = data_changes(previous.manifest.get("data"), fingerprint_sources(loaded))
    if changes:
        print(f"kerun: warning: the data differs from what {run_path.name} read:", file=sys.stderr)
        for line in changes:
            print(f"  {line}", file=sys.stderr)
    options = options or TrainOptions()
    if options.resume is not None:
        raise RunError("--again starts a new run; it cannot be combined with --resume")
    result = train(loaded, options)
    RunDir.open(result.run_dir).update(repeats=str(previous.path.resolve()), data_changed_since_repeated=changes)
    try:
        before = previous.read_json(METRICS)
    except (OSError, ValueError):
        before = {}
    return result, compare_metrics(before if isinstance(before, dict) else {}, result.metrics)
