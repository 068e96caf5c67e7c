"""What a run keeps and says after faults, and what a resume does with them (issue 20, points 6-10
and the manifests of point 13): no NaN weights backed up, no silent gap in the history, the backed-up
epoch of a killed run shown, one trainer per run folder, no empty run folder from a full disk."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kerun.errors import KerunError, RunError
from kerun.run.listing import list_runs, show_run
from kerun.run.rundir import RunDir
from kerun.run.train import TrainOptions, train_file

SPEC = """\
name: resumable
seed: 3
data:
  train: {type: synthetic, size: 64, fields: {x: {shape: [4]}, y: {shape: [1]}}}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 4}
    - {type: Dense, units: 1, name: y}
compile: {loss: mse}
train:
  epochs: 3
  batch_size: 16
"""


def quiet(runs: Path, **kw) -> TrainOptions:
    return TrainOptions(runs_dir=runs, progress="quiet", **kw)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run interrupted after its 3 epochs, each backed up, before its model was saved."""
    import kerun.run.session as session

    base = tmp_path_factory.mktemp("interrupted")
    spec = base / "s.yaml"
    spec.write_text(SPEC)

    def stop(stage: str) -> None:
        if stage == "save":
            raise KeyboardInterrupt

    pace = session.BACKUP_PACE
    session.BACKUP_PACE = 0  # every epoch backed up
    try:
        with pytest.raises(KerunError, match="interrupted"):
            train_file(spec, [], quiet(base / "runs", on_stage=stop))
    finally:
        session.BACKUP_PACE = pace
    run = next((base / "runs" / "resumable").iterdir())
    assert json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"] == 3
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "runs" / "resumable" / run.name
    shutil.copytree(run, target)
    return target


def resume(run: Path, epochs: int = 5):
    return train_file(run / "spec.yaml", [f"train.epochs={epochs}"], quiet(run.parent.parent, resume=run))


def test_resume_rebuilds_a_deleted_history_json_from_history_csv(interrupted: Path, tmp_path: Path) -> None:
    run = copy_of(interrupted, tmp_path)
    (run / "history.json").unlink()
    result = resume(run)
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]
    assert result.epochs == 5 and json.loads((run / "manifest.json").read_text())["epochs_completed"] == 5


def test_resume_with_no_history_left_is_refused_clearly(interrupted: Path, tmp_path: Path) -> None:
    run = copy_of(interrupted, tmp_path)
    (run / "history.json").write_text('[{"epoch": 1, "loss": 0.')  # cut short
    (run / "history.csv").write_text("epoch,loss\n1,0.5\n2,0.")  # cut short: epoch 1 only is whole
    with pytest.raises(RunError) as err:
        resume(run)
    assert "backup holds 3 epochs but its history has only epochs 1" in err.value.message
    assert "gap" in err.value.message and "history.json" in (err.value.problems[0].hint or "")


def test_a_killed_run_shows_its_backed_up_epoch(interrupted: Path, tmp_path: Path) -> None:
    run = copy_of(interrupted, tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest.update(status="running", phase="train", pid=2**22 + 12345)  # a process that is gone
    (run / "manifest.json").write_text(json.dumps(manifest))
    (rows,) = list_runs(tmp_path / "runs")
    assert rows["status"] == "killed" and rows["epochs"] == 3
    assert "killed, in phase train; backed up after epoch 3" in show_run(run)


def test_a_second_trainer_of_the_same_run_is_refused(interrupted: Path, tmp_path: Path) -> None:
    run = copy_of(interrupted, tmp_path)
    holder = RunDir.open(run)
    holder.lock()  # as a first `kerun train --resume` does, for as long as it trains
    try:
        with pytest.raises(RunError, match="being trained by another process"):
            resume(run)
        assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"  # untouched
    finally:
        holder.unlock()
    assert resume(run).status == "completed"
    assert not (run / ".lock").exists()


def test_non_finite_weights_are_never_backed_up_nor_checkpointed(tmp_path: Path) -> None:
    x = np.ones((32, 4), "float32")
    x[5, 0] = np.nan  # the first epoch meets it: the loss and then every weight become NaN
    np.savez(tmp_path / "d.npz", x=x, y=np.ones((32, 1), "float32"))
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("{type: synthetic, size: 64, fields: {x: {shape: [4]}, y: {shape: [1]}}}", "{type: npz, path: d.npz}")
                    + "  callbacks: [{type: ModelCheckpoint, monitor: loss}]\n")
    with pytest.raises(RunError) as err:
        train_file(spec, [], quiet(tmp_path / "runs"))
    hint = err.value.problems[0].hint or ""
    assert "nothing was backed up" in hint and "no checkpoint was saved" in hint
    assert "last good epoch is backed up" not in hint
    run = next((tmp_path / "runs" / "resumable").iterdir())
    assert not (run / "best.keras").exists()
    assert not (run / "backup" / "latest.weights.h5").exists()


def test_disk_full_at_start_leaves_no_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kerun.run.rundir as rundir

    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir.os, "fsync", full)
    with pytest.raises(RunError, match="disk is full"):
        train_file(spec, [], quiet(tmp_path / "runs"))
    assert not (tmp_path / "runs" / "resumable").exists() or not list((tmp_path / "runs" / "resumable").iterdir())


def test_hand_edited_manifests_do_not_break_runs_or_show(interrupted: Path, tmp_path: Path) -> None:
    good = copy_of(interrupted, tmp_path)
    bad = tmp_path / "runs" / "other" / "20260101T000000Z-aaaaaa"
    bad.mkdir(parents=True)
    (bad / "manifest.json").write_text("[1, 2]")
    assert [r["path"] for r in list_runs(tmp_path / "runs")] == [str(good)]
    with pytest.raises(RunError, match="not a JSON object"):
        RunDir.open(bad)
    manifest = json.loads((good / "manifest.json").read_text())
    manifest.update(metrics={"train": {"loss": "low", "mae": 0.25}, "test": "n/a"}, git="abc123")
    (good / "manifest.json").write_text(json.dumps(manifest))
    shown = show_run(good)
    assert "loss low  mae 0.25" in shown and "git:      abc123" in shown
    assert list_runs(tmp_path / "runs")[0]["headline"] == "train: mae 0.25  loss low"
