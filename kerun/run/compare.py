"""``kerun compare RUN RUN ...``: how runs differ (their specs as finally used), their metrics side by
side, and their training curves overlaid in one picture. No TensorFlow: it reads run folders.

A spec's values are compared as flattened dotted paths, addressed as ``--set`` addresses them (a
list entry with a ``name`` by its name, others by index: ``model.layers.hidden.units``), so a
difference reads as the override that would make one run into the other.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from kerun.errors import RunError
from kerun.run.rundir import HISTORY_JSON, METRICS, SPEC_FILE, RunDir

__all__ = ["Comparison", "NOT_SET", "compare_runs", "flatten", "plot_comparison"]


class _NotSet:
    """The value of a path one run's spec does not have."""

    def __repr__(self) -> str:
        return "(not set)"


NOT_SET = _NotSet()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"layers": [{"name": "h", "units": 8}]}}`` -> ``{"model.layers.h.units": 8, ...}``."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        for i, v in enumerate(value):
            key = v.get("name") if isinstance(v, dict) and isinstance(v.get("name"), str) else str(i)
            out.update(flatten(v, f"{prefix}.{key}" if prefix else key))
    else:
        out[prefix] = value
    return out


@dataclass
class Comparison:
    runs: list[Path]
    labels: list[str]  # short names for tables and the picture's legend
    differences: list[tuple[str, list[Any]]] = field(default_factory=list)  # dotted path, one value per run
    metrics: list[tuple[str, str, list[float | None]]] = field(default_factory=list)  # split, metric, values
    histories: list[list[dict[str, Any]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def shown(v: Any) -> Any:
            return None if v is NOT_SET else v

        return {
            "runs": [{"label": label, "path": str(p)} for label, p in zip(self.labels, self.runs)],
            "differences": [{"path": k, "values": [shown(v) for v in vs]} for k, vs in self.differences],
            "metrics": [{"split": s, "metric": m, "values": vs} for s, m, vs in self.metrics],
        }


def _read_json(run: RunDir, name: str, default: Any) -> Any:
    try:
        return run.read_json(name)
    except (OSError, ValueError):
        return default


def _labels(runs: Sequence[RunDir]) -> list[str]:
    """Each run's spec name where the names differ, else its folder name (timestamp and id)."""
    names = [str(r.manifest.get("name") or r.path.parent.name) for r in runs]
    if len(set(names)) == len(names):
        return names
    folders = [r.path.name for r in runs]
    if len(set(folders)) == len(folders):
        return folders
    return [str(r.path) for r in runs]


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def compare_runs(paths: Sequence[Path]) -> Comparison:
    """The differences of the runs' specs, their final metrics and their histories."""
    from kerun.spec.loader import load_document

    if len(paths) < 2:
        raise RunError("kerun compare needs at least two run folders")
    runs = [RunDir.open(p) for p in paths]
    comparison = Comparison(runs=[r.path for r in runs], labels=_labels(runs))
    flat = [flatten(load_document(r.file(SPEC_FILE)).data) for r in runs]
    keys: list[str] = []
    for f in flat:
        keys.extend(k for k in f if k not in keys)
    for key in keys:
        values = [f.get(key, NOT_SET) for f in flat]
        if any(json.dumps(v, sort_keys=True, default=str) != json.dumps(values[0], sort_keys=True, default=str)
               for v in values[1:]) or any(v is NOT_SET for v in values):
            comparison.differences.append((key, values))
    metrics = [_read_json(r, METRICS, {}) for r in runs]
    pairs: list[tuple[str, str]] = []
    for m in metrics:
        for split, values in (m.items() if isinstance(m, dict) else []):
            if isinstance(values, dict):
                pairs.extend((split, name) for name in values if (split, name) not in pairs)
    for split, name in pairs:
        row = [_number(m.get(split, {}).get(name)) if isinstance(m, dict) and isinstance(m.get(split), dict) else None
               for m in metrics]
        comparison.metrics.append((split, name, row))
    for r in runs:
        history = _read_json(r, HISTORY_JSON, [])
        comparison.histories.append([row for row in history if isinstance(row, dict)] if isinstance(history, list) else [])
    return comparison


def plot_comparison(comparison: Comparison, target: Path) -> None:
    """One panel per metric (training solid, validation dashed), one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from kerun.run.rundir import atomic_path

    names: list[str] = []
    for history in comparison.histories:
        for row in history:
            names.extend(k for k in row if k not in names and k not in ("epoch", "seconds", "learning_rate")
                         and not k.startswith("val_"))
    if not names:
        raise RunError("none of these runs has a training history to draw", hint="compare runs that trained at least one epoch")
    fig, axes = plt.subplots(1, len(names), figsize=(4.8 * len(names), 3.8), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes[0], names):
        for i, (label, history) in enumerate(zip(comparison.labels, comparison.histories)):
            colour = colours[i % len(colours)]
            epochs = [row.get("epoch") for row in history]
            if any(name in row for row in history):
                ax.plot(epochs, [row.get(name) for row in history], color=colour, marker="o", markersize=3, label=label)
            if any(f"val_{name}" in row for row in history):
                ax.plot(epochs, [row.get(f"val_{name}") for row in history], color=colour, linestyle="--",
                        marker="o", markersize=3, label=f"{label} (validation)")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"{len(comparison.runs)} runs compared: solid training, dashed validation")
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
