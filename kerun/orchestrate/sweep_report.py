"""What a sweep leaves in its folder after every trial: ``trials.json`` and ``trials.csv`` (one row
per trial: state (completed, failed, pruned), objective value (a pruned trial's: at the epoch it was
stopped at), the values tried, seconds, ``pruned_at_epoch``, run folder, error), ``best.yaml`` (the
spec with the best values applied and the ``sweep`` section removed, paths made relative to the
sweep folder: it validates and trains as is) and ``objective.png`` (each trial's value and the best
so far). Every file is written atomically.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

from kerun.run.rundir import atomic_path, atomic_write
from kerun.spec import LoadedSpec, dump_yaml, spec_from_text
from kerun.spec.overrides import resolve_path
from kerun.spec.paths import relative_paths
from kerun.spec.space import Param

__all__ = ["best_spec_text", "plot_objective", "write_reports"]


def write_reports(folder: Path, study: Any, params: list[Param], loaded: LoadedSpec) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Rewrite ``trials.json``, ``trials.csv``, ``best.yaml`` and ``objective.png`` from the study;
    return the rows and the best trial (None before any trial completed)."""
    from optuna.trial import TrialState

    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("interrupted"):
            continue
        state = {TrialState.COMPLETE: "completed", TrialState.FAIL: "failed", TrialState.RUNNING: "running",
                 TrialState.PRUNED: "pruned"}.get(t.state, t.state.name.lower())
        # a pruned trial's value: its objective at the epoch it was stopped at (Optuna's last report)
        row: dict[str, Any] = {"trial": t.number, "state": state,
                               "value": t.value if t.state in (TrialState.COMPLETE, TrialState.PRUNED) else None}
        for p in params:
            row[p.key] = p.decode(t.params[p.key]) if p.key in t.params else None
        row["seconds"] = t.user_attrs.get("seconds")
        row["pruned_at_epoch"] = t.user_attrs.get("pruned_at_epoch")
        row["run_dir"] = t.user_attrs.get("run_dir")
        row["error"] = t.user_attrs.get("error")
        rows.append(row)
    atomic_write(folder / "trials.json", json.dumps(rows, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["trial", "state", "value", *[p.key for p in params], "seconds", "pruned_at_epoch", "run_dir",
                                             "error"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in row.items()})
    atomic_write(folder / "trials.csv", buf.getvalue())
    completed = [r for r in rows if r["state"] == "completed"]
    best = None
    if completed:
        pick = max if study.direction.name == "MAXIMIZE" else min
        top = pick(completed, key=lambda r: r["value"])
        best = {"trial": top["trial"], "value": top["value"], "params": {p.key: top[p.key] for p in params}, "run_dir": top["run_dir"]}
        atomic_write(folder / "best.yaml", best_spec_text(loaded, folder, best, loaded.spec.sweep.objective.metric))  # type: ignore[union-attr]
    try:
        with atomic_path(folder / "objective.png") as tmp:
            plot_objective(rows, tmp, loaded.spec.sweep.objective.metric, study.direction.name == "MAXIMIZE")  # type: ignore[union-attr]
    except Exception:  # a plot is a convenience; never fail a sweep on it
        pass
    return rows, best


def best_spec_text(loaded: LoadedSpec, folder: Path, best: dict[str, Any], metric: str) -> str:
    """The spec with the best trial's values, ready to train from ``folder``; checked before it is returned."""
    data = copy.deepcopy(loaded.data)
    for key, value in best["params"].items():
        path, parent = resolve_path(data, key)
        parent[path[-1]] = copy.deepcopy(value)
    data.pop("sweep", None)
    relative_paths(data, loaded.base_dir, folder)  # best.yaml lives in the sweep folder
    header = (f"# The best trial ({best['trial']}, {metric} = {best['value']:.6g}) of the sweep of {loaded.path}.\n"
              f"# Train it with: kerun train {folder / 'best.yaml'}\n")
    text = header + dump_yaml(data)
    spec_from_text(text, file=str(folder / "best.yaml"))  # a best spec that does not validate is a bug here
    return text


def plot_objective(rows: list[dict[str, Any]], target: Path, metric: str, maximize: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["state"] == "completed"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    xs = [r["trial"] for r in done]
    ys = [r["value"] for r in done]
    ax.scatter(xs, ys, s=18, label="trial")
    best: list[float] = []
    for y in ys:
        best.append(y if not best else (max if maximize else min)(best[-1], y))
    if xs:
        ax.step(xs, best, where="post", color="C1", label="best so far")
    pruned = [r for r in rows if r["state"] == "pruned" and r["value"] is not None]
    if pruned:  # where each stood when it was stopped: hollow, apart from the trials that ran to the end
        ax.scatter([r["trial"] for r in pruned], [r["value"] for r in pruned], s=30, marker="v", facecolors="none",
                   edgecolors="C7", label="pruned (value when stopped)")
        for r in pruned:
            if r.get("pruned_at_epoch"):
                ax.annotate(f"ep {r['pruned_at_epoch']}", (r["trial"], r["value"]), textcoords="offset points",
                            xytext=(4, -10), fontsize=7, color="C7")
    failed = [r["trial"] for r in rows if r["state"] == "failed"]
    if failed and ys:
        ax.scatter(failed, [min(ys)] * len(failed), marker="x", color="C3", label="failed")
    ax.margins(x=0.08, y=0.12)  # room for the pruned trials' epoch labels
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=100)
    plt.close(fig)
