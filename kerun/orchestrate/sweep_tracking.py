"""What a sweep adds for the tools that compare runs: MLflow (a parent run, one child per trial,
kerun.run.tracking) and TensorBoard's HParams dashboard (kerun.orchestrate.hparams).

The sweep's parent process stays free of TensorFlow: ``import mlflow`` does not import it (only
``mlflow.keras`` does, in the trials), nor do the hparams protos written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from kerun.spec import LoadedSpec
from kerun.spec.space import Param

__all__ = ["close_tracking", "open_tracking"]


def open_tracking(loaded: LoadedSpec, folder: Path, runs_dir: Path, manifest: dict[str, Any],
                  flush: Callable[[], None]) -> tuple[Any, dict[str, str]]:
    """The sweep's parent MLflow run (None unless the spec asks) and the environment for the
    trials' workers, which makes each trial's run a child of it, in the same store and experiment."""
    from kerun.orchestrate.child import child_environment

    tracker = None
    if loaded.spec.tracking == "mlflow":
        from kerun.run.tracking import child_environment as mlflow_env, start_sweep

        def record(entry: dict[str, Any]) -> None:
            manifest["mlflow"] = entry
            flush()

        tracker = start_sweep(loaded, folder, runs_dir, record)
        return tracker, child_environment(PYTHONUNBUFFERED="1", **mlflow_env(tracker))
    return tracker, child_environment(PYTHONUNBUFFERED="1")


def _trials(study: Any, params: list[Param]) -> list[dict[str, Any]]:
    from optuna.trial import TrialState

    states = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed", TrialState.RUNNING: "running"}
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("interrupted") or t.state not in states:
            continue
        value = t.value if t.state == TrialState.COMPLETE else None
        epochs = t.user_attrs.get("pruned_at_epoch") or 0
        if t.state == TrialState.PRUNED and t.intermediate_values:  # the objective when it was stopped
            epochs = max(t.intermediate_values)
            value = t.intermediate_values[epochs]
        out.append({"number": t.number, "state": states[t.state], "value": value, "epochs": epochs,
                    "values": {p.key: p.decode(t.params[p.key]) for p in params if p.key in t.params}})
    return out


def close_tracking(folder: Path, study: Any, params: list[Param], loaded: LoadedSpec, tracker: Any, status: str,
                   best: dict[str, Any] | None) -> None:
    """After the sweep (or its interruption): the HParams dashboard rewritten from the study; the
    parent MLflow run given each trial's objective (step = trial number) and the best, and ended."""
    from kerun.orchestrate.hparams import write_hparams

    metric = loaded.spec.sweep.objective.metric  # type: ignore[union-attr]
    trials = _trials(study, params)
    write_hparams(folder, trials, [p.key for p in params], metric)
    if tracker is not None:
        for t in trials:
            if t["value"] is not None and t["state"] == "completed":
                tracker.log_metrics({f"trial.{metric}": t["value"]}, step=t["number"])
        from kerun.run.tracking import finish_sweep

        finish_sweep(tracker, status, best, metric)
