"""``kerun runs`` and ``kerun show``: what is in the runs folder."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from kerun.errors import RunError
from kerun.run.rundir import MANIFEST, RunDir

__all__ = ["list_runs", "show_run"]


def _duration(manifest: dict[str, Any]) -> str:
    try:
        start = _dt.datetime.fromisoformat(manifest["started_at"].replace("Z", "+00:00"))
        end = _dt.datetime.fromisoformat(manifest["ended_at"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, TypeError, ValueError):
        return ""
    seconds = int((end - start).total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _headline(metrics: dict[str, dict[str, float]] | None) -> str:
    if not isinstance(metrics, dict) or not metrics:
        return ""
    split = next((s for s in ("test", "validation", "train") if isinstance(metrics.get(s), dict)), None)
    if split is None:
        return ""
    values = metrics[split]
    keys = [k for k in values if k != "loss"][:2] + (["loss"] if "loss" in values else [])
    return f"{split}: " + "  ".join(f"{k} {_number(values[k])}" for k in keys)


def _number(value: Any) -> str:
    """A metric as 4 significant digits; anything else (a hand-edited manifest) as it is."""
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def list_runs(runs_dir: Path, name: str | None = None) -> list[dict[str, Any]]:
    """Every run under ``runs_dir`` (of the spec ``name``), oldest first; no runs folder yet is no
    runs, not an error (a script listing runs before the first training gets ``[]``)."""
    if not runs_dir.is_dir():
        if runs_dir.exists():
            raise RunError(f"{runs_dir} is not a folder", hint="pass the runs folder with --runs-dir")
        return []
    rows = []
    for manifest_path in sorted(runs_dir.glob(f"{name or '*'}/*/{MANIFEST}")):
        try:
            m = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(m, dict):
            continue  # not a manifest kerun wrote: skip it, list the others
        run = RunDir(manifest_path.parent, m)
        status = run.effective_status()
        rows.append(
            {
                "run": str(manifest_path.parent.relative_to(runs_dir)),
                "path": str(manifest_path.parent),
                "status": status,
                "started_at": m.get("started_at"),
                "duration": _duration(m),
                "epochs": m.get("epochs_completed") if status not in ("killed", "running") else run.backed_up_epoch(),
                "headline": _headline(m.get("metrics")),
                "metrics": m.get("metrics"),
            }
        )
    return rows


def show_run(run_dir: Path) -> str:
    run = RunDir.open(run_dir)
    m = run.manifest
    status = run.effective_status()
    phase = f", in phase {m.get('phase')}" if status in ("running", "killed") and m.get("phase") else ""
    if status in ("running", "killed"):
        backed_up = run.backed_up_epoch()
        phase += f"; backed up after epoch {backed_up}" if backed_up else "; no epoch backed up yet"
    lines = [f"run {run_dir}", f"  status:   {status}{phase}" + (f" ({m.get('error')})" if m.get("error") else "")]
    for key in ("name", "started_at", "ended_at", "epochs_completed", "seed", "spec_path"):
        if m.get(key) is not None:
            lines.append(f"  {key + ':':<9} {m[key]}")
    if isinstance(m.get("versions"), dict):
        lines.append("  versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    git = m.get("git")
    if isinstance(git, dict) and git.get("commit"):
        lines.append(f"  git:      {git['commit']}" + (f" ({git['branch']})" if git.get("branch") else ""))
    elif git:
        lines.append(f"  git:      {git}")
    metrics = m.get("metrics")
    for split, values in (metrics.items() if isinstance(metrics, dict) else []):
        shown = "  ".join(f"{k} {_number(v)}" for k, v in values.items()) if isinstance(values, dict) else str(values)
        lines.append(f"  {split}: {shown}")
    from kerun.run.eval_report import report_lines

    lines.extend(report_lines(run.path))  # what kerun train and kerun eval reported, by task
    lines.append("  files:    " + ", ".join(sorted(p.name for p in run.path.iterdir() if not p.name.startswith("."))))
    return "\n".join(lines)
