"""Faults that really happen: a kill while the model is written, a full disk, corrupt data
through the whole train command."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerun_testing import ROOT
from kerun.cli import app
from kerun.errors import RunError
from kerun.run.train import TrainOptions, train_file

runner = CliRunner()

SPEC = """\
name: faults
seed: 2
data:
  train: {type: synthetic, size: 64, fields: {x: {shape: [4]}, y: {shape: [1]}}}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 8}
    - {type: Dense, units: 1, name: y}
compile: {loss: mse}
train: {epochs: 2, batch_size: 16}
"""


def test_killed_while_writing_the_model(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    # A child process trains; its model.save writes half a file and then the process is killed.
    script = textwrap.dedent(f"""
        import os, signal, keras
        def dying_save(self, path, *a, **k):
            with open(path, "wb") as fh:
                fh.write(b"PK\\x03\\x04 half a zip file")
                fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        keras.Model.save = dying_save
        from kerun.run.train import TrainOptions, train_file
        train_file({str(spec)!r}, [], TrainOptions(runs_dir=__import__("pathlib").Path({str(tmp_path / 'runs')!r}), progress="quiet"))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    run_dir = next((tmp_path / "runs" / "faults").iterdir())
    assert not (run_dir / "model.keras").exists()  # no truncated model under the real name
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "running" and manifest["phase"] == "save"  # where it was
    shown = runner.invoke(app, ["show", str(run_dir)])
    assert "killed, in phase save" in shown.stdout
    listed = json.loads(runner.invoke(app, ["runs", "--runs-dir", str(tmp_path / "runs"), "--json"]).stdout)
    assert listed[0]["status"] == "killed"
    # the half-written temporary is cleaned up by a resume, which then finishes the run
    assert list(run_dir.glob(".model.*"))
    resumed = runner.invoke(app, ["train", "--resume", str(run_dir), "--json", "--quiet"])
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    assert not list(run_dir.glob(".*"))
    import keras

    keras.models.load_model(run_dir / "model.keras")  # complete and loadable


def test_disk_full_while_saving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)

    def full_disk(self, path, *args, **kwargs):  # what h5py/zipfile raise on ENOSPC
        with open(path, "wb") as fh:
            fh.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    with pytest.raises(RunError) as err:
        train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert "disk is full while writing" in err.value.message and "model.keras" in err.value.message
    run_dir = next((tmp_path / "runs" / "faults").iterdir())
    assert not (run_dir / "model.keras").exists()
    assert not list(run_dir.glob(".*")), "a partial temporary file was left"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "disk is full" in manifest["error"]


def test_disk_full_everywhere_keeps_the_original_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kerun.run.rundir as rundir

    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    real_fsync = os.fsync
    state = {"writes": 0}

    def fsync(fd: int) -> None:
        state["writes"] += 1
        if state["writes"] > 4:  # after the first few files, the disk is full for good
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(rundir.os, "fsync", fsync)
    with pytest.raises(RunError) as err:
        train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert "disk is full" in err.value.message
    run_dir = next((tmp_path / "runs" / "faults").iterdir())
    assert not list(run_dir.glob(".*"))
    # the files written before the disk filled are whole: the last complete manifest, the spec as used
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert run_dir.name.endswith(manifest["run_id"]) and manifest["status"] in ("running", "failed")
    import yaml

    assert yaml.safe_load((run_dir / "spec.yaml").read_text())["name"] == "faults"


def test_ragged_csv_through_train_names_file_and_row(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,7,8\n7,8,1\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "data:\n  train: {type: csv, path: d.csv, label: label}\nmodel:\n  inputs: {x: [2]}\n  layers:\n"
        "    - {type: Dense, units: 2, activation: softmax}\ncompile: {loss: sparse_categorical_crossentropy}\n"
    )
    result = runner.invoke(app, ["train", str(spec), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 2
    assert "d.csv: row at line 4 has 4 fields, the header has 3" in result.stderr and "Traceback" not in result.stderr
    assert "s.yaml:2:" in result.stderr  # the spec line of the source
    manifest = json.loads(next((tmp_path / "runs").glob("*/*/manifest.json")).read_text())
    assert manifest["status"] == "failed"
