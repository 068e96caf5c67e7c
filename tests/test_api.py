"""The Python API takes the run folder as an option; only the command line reads KERUN_RUN_DIR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerun.cli import app
from kerun_testing import small_spec
from kerun.run.rundir import RUN_DIR_ENV
from kerun.run.train import TrainOptions, train_file


def test_train_trains_in_the_given_run_dir_and_ignores_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = small_spec(tmp_path, size=32, epochs=1)
    decoy = tmp_path / "from-env"
    monkeypatch.setenv(RUN_DIR_ENV, str(decoy))
    result = train_file(spec, (), TrainOptions(runs_dir=tmp_path / "runs", run_dir=tmp_path / "agreed", progress="quiet"))
    assert result.status == "completed" and result.run_dir == tmp_path / "agreed"
    assert (tmp_path / "agreed" / "model.keras").is_file()
    assert not decoy.exists() and not (tmp_path / "runs").exists()

    # no run_dir: a new timestamped folder under runs_dir, whatever the environment says
    result = train_file(spec, (), TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert result.run_dir.parent == tmp_path / "runs" / "small" and not decoy.exists()

    # the command line reads the environment once and passes it on
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        cli = CliRunner().invoke(app, ["train", str(spec), "--quiet", "--runs-dir", str(tmp_path / "cli-runs")])
    finally:
        os.chdir(old)
    assert cli.exit_code == 0, cli.stdout + cli.stderr
    assert (decoy / "model.keras").is_file() and not (tmp_path / "cli-runs").exists()
