"""``kerun runs``: run ids whole (in a pipe at 80 columns too), ``--json``, no runs folder is no runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from kerun.cli import app
from kerun.console import runs_table
from kerun.run.rundir import RunDir

runner = CliRunner()


def _runs(tmp_path: Path) -> tuple[Path, list[str]]:
    runs_dir = tmp_path / "runs"
    ids = []
    for name, metrics in (("iris-mlp-with-a-long-name", {"test": {"accuracy": 0.9667, "loss": 0.1234}}),
                          ("digits", {"validation": {"accuracy": 0.5, "top_k": 0.75, "loss": 1.5}})):
        run = RunDir.create(runs_dir, name)
        run.finish("completed", epochs_completed=12, metrics=metrics, started_at="2026-12-01T09:30:05Z")
        ids.append(f"{name}/{run.path.name}")
    return runs_dir, ids


def test_run_ids_are_whole_at_80_columns(tmp_path: Path) -> None:
    runs_dir, ids = _runs(tmp_path)
    from kerun.run.listing import list_runs

    out = io.StringIO()
    Console(file=out, width=80, force_terminal=False).print(runs_table(list_runs(runs_dir), runs_dir))
    text = out.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines()), text
    for run_id in ids:
        assert any(run_id in line for line in text.splitlines()), text
    # the command in a pipe (CliRunner captures: not a terminal)
    result = runner.invoke(app, ["runs", "--runs-dir", str(runs_dir)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    for run_id in ids:
        assert run_id in result.stdout, result.stdout
    assert "completed" in result.stdout and "0.9667" in result.stdout and "2026-12-01 09:30" in result.stdout


def test_runs_json_and_a_missing_folder(tmp_path: Path) -> None:
    runs_dir, ids = _runs(tmp_path)
    result = runner.invoke(app, ["runs", "--runs-dir", str(runs_dir), "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert sorted(r["run"] for r in rows) == sorted(ids) and {r["epochs"] for r in rows} == {12}
    missing = runner.invoke(app, ["runs", "--runs-dir", str(tmp_path / "none-yet"), "--json"])
    assert (missing.exit_code, json.loads(missing.stdout)) == (0, [])
    text = runner.invoke(app, ["runs", "--runs-dir", str(tmp_path / "none-yet")])
    assert text.exit_code == 0 and "Traceback" not in text.output
