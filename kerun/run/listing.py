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
    if not metrics:
        return ""
    split = "test" if "test" in metrics else "validation" if "validation" in metrics else "train"
    values = metrics.get(split, {})
    keys = [k for k in values if k != "loss"][:2] + (["loss"] if "loss" in values else [])
    return f"{split}: " + "  ".join(f"{k} {values[k]:.4g}" for k in keys)


def list_runs(runs_dir: Path, name: str | None = None) -> list[dict[str, Any]]:
    if not runs_dir.is_dir():
        raise RunError(f"no runs folder at {runs_dir}", hint="train a spec first, or pass --runs-dir")
    rows = []
    for manifest_path in sorted(runs_dir.glob(f"{name or '*'}/*/{MANIFEST}")):
        try:
            m = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        rows.append(
            {
                "run": str(manifest_path.parent.relative_to(runs_dir)),
                "path": str(manifest_path.parent),
                "status": RunDir(manifest_path.parent, m).effective_status(),
                "started_at": m.get("started_at"),
                "duration": _duration(m),
                "epochs": m.get("epochs_completed"),
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
    lines = [f"run {run_dir}", f"  status:   {status}{phase}" + (f" ({m.get('error')})" if m.get("error") else "")]
    for key in ("name", "started_at", "ended_at", "epochs_completed", "seed", "spec_path"):
        if m.get(key) is not None:
            lines.append(f"  {key + ':':<9} {m[key]}")
    if m.get("versions"):
        lines.append("  versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    if m.get("git"):
        lines.append(f"  git:      {m['git']['commit']}{' (dirty)' if m['git'].get('dirty') else ''}")
    for split, values in (m.get("metrics") or {}).items():
        lines.append(f"  {split}: " + "  ".join(f"{k} {v:.4g}" for k, v in values.items()))
    lines.append("  files:    " + ", ".join(sorted(p.name for p in run.path.iterdir() if not p.name.startswith("."))))
    return "\n".join(lines)
