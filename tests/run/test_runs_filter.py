"""``kerun runs --where/--sort/--limit``: filtered and ordered by a run's fields and final metrics
(run folders written by RunDir alone: no training), bad expressions a clear usage error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerun.cli import app
from kerun.run.rundir import RunDir

runner = CliRunner()

RUNS = {  # run id -> (status, epochs, metrics)
    "a": ("completed", 10, {"train": {"accuracy": 0.95, "loss": 0.20}, "validation": {"accuracy": 0.91, "loss": 0.30}}),
    "b": ("completed", 10, {"train": {"accuracy": 0.80, "loss": 0.50}, "validation": {"accuracy": 0.78, "loss": 0.60}}),
    "c": ("pruned", 2, {"train": {"accuracy": 0.40, "loss": 1.10}, "validation": {"accuracy": 0.35, "loss": 1.20}}),
    "d": ("completed", 10, {"train": {"accuracy": 0.99, "loss": 0.05}, "validation": {"accuracy": 0.97, "loss": 0.10},
                            "test": {"accuracy": 0.96, "loss": 0.12}}),
    "e": ("failed", 0, None),
}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("filter") / "runs"
    for run_id, (status, epochs, metrics) in RUNS.items():
        run = RunDir.create(root, "iris", run_id=run_id)
        run.finish(status, epochs_completed=epochs, metrics=metrics, started_at=f"2026-12-01T09:30:0{ord(run_id) - 97}Z")
    return root


def _ids(runs_dir: Path, *args: str) -> list[str]:
    res = runner.invoke(app, ["runs", "--runs-dir", str(runs_dir), "--json", *args])
    assert res.exit_code == 0, res.output
    return [Path(r["run"]).name.rsplit("-", 1)[-1] for r in json.loads(res.stdout)]  # the id ends "-<run_id>"


def test_where_keeps_the_runs_that_match_every_expression(runs_dir: Path) -> None:
    assert _ids(runs_dir, "--where", "status=completed") == ["a", "b", "d"]
    assert _ids(runs_dir, "--where", "status!=completed") == ["c", "e"]
    assert _ids(runs_dir, "--where", "val_accuracy>0.9") == ["a", "d"]
    assert _ids(runs_dir, "--where", "val_accuracy >= 0.78", "--where", "loss<0.3") == ["a", "d"]
    assert _ids(runs_dir, "--where", "test_accuracy>0") == ["d"]  # the others have no test split: no match
    assert _ids(runs_dir, "--where", "epochs<10") == ["c", "e"]
    assert _ids(runs_dir, "--where", "val_loss==0.6") == ["b"]


def test_sort_is_best_first_and_a_sign_forces_the_order(runs_dir: Path) -> None:
    assert _ids(runs_dir, "--sort", "val_accuracy") == ["d", "a", "b", "c", "e"]  # descending; e has none: last
    assert _ids(runs_dir, "--sort", "val_loss") == ["d", "a", "b", "c", "e"]  # a loss: ascending
    assert _ids(runs_dir, "--sort", "-val_loss") == ["c", "b", "a", "d", "e"]
    assert _ids(runs_dir, "--sort", "+accuracy") == ["c", "b", "a", "d", "e"]
    assert _ids(runs_dir, "--sort", "-run") == ["e", "d", "c", "b", "a"]


def test_limit_cuts_after_sort_and_where(runs_dir: Path) -> None:
    assert _ids(runs_dir, "--sort", "val_accuracy", "--limit", "2") == ["d", "a"]
    assert _ids(runs_dir, "--where", "status=completed", "--sort", "val_loss", "--limit", "1") == ["d"]
    assert _ids(runs_dir, "--limit", "0") == []


def test_the_table_shows_the_metric_sorted_by(runs_dir: Path) -> None:
    res = runner.invoke(app, ["runs", "--runs-dir", str(runs_dir), "--sort", "loss", "--limit", "2"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert [i for i, ln in enumerate(lines) if "Z-d" in ln] < [i for i, ln in enumerate(lines) if "Z-a" in ln]
    assert "train_loss 0.05" in res.stdout and "Z-b" not in res.stdout
    # a key the headline shows already is not repeated
    res = runner.invoke(app, ["runs", "--runs-dir", str(runs_dir), "--sort", "test_accuracy", "--limit", "1"])
    assert "test: accuracy 0.96" in res.stdout and "(test_accuracy" not in res.stdout


@pytest.mark.parametrize("args, message", [
    (["--where", "val_acc>0.9"], "--where: no run has 'val_acc'; the keys of these runs: status, run, epochs, started_at, "),
    (["--where", "val_accuracy~0.9"], "expected KEY OP VALUE with OP one of != >= <= == = > <"),
    (["--where", "val_accuracy>"], "expected KEY OP VALUE"),
    (["--where", "status>1"], "the runs' value is 'completed', not a number; compare it with = or !="),
    (["--where", "val_loss<low"], "< compares numbers, and 'low' is not one"),
    (["--sort", "val_f1"], "--sort: no run has 'val_f1'"),
    (["--sort", "-"], "expected a key, e.g. val_accuracy, -val_loss or +epochs"),
])
def test_bad_expressions_are_clear_errors(runs_dir: Path, args: list[str], message: str) -> None:
    res = runner.invoke(app, ["runs", "--runs-dir", str(runs_dir), *args])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.stderr.split()), res.stderr
    assert "Traceback" not in res.output
    if "no run has" in message:
        assert "val_accuracy" in res.stderr  # the keys there are, to pick from


def test_filtering_imports_no_tensorflow(runs_dir: Path) -> None:
    code = ("import sys; from pathlib import Path; from kerun.run.listing import list_runs; "
            "from kerun.run.run_filter import apply_filters; "
            f"rows = apply_filters(list_runs(Path({str(runs_dir)!r})), ['status=completed'], 'val_accuracy', 1); "
            "print(rows[0]['run'].rsplit('-', 1)[-1], 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["d", "False", "False"]
