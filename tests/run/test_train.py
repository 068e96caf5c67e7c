"""Training end to end: the run folder, eval, predict, repeatability, resume, interrupts, NaN."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kerun_testing import ROOT, SMALL_SPEC, SPECS, ctrl_c_as_in_a_terminal, small_spec
from kerun.cli import app
from kerun.errors import RunError, SpecError
from kerun.run.train import TrainOptions, train_file

runner = CliRunner()

SMALL = SMALL_SPEC


def write_spec(folder: Path, *, size: int = 96, epochs: int = 3, text: str = SMALL) -> Path:
    return small_spec(folder, size=size, epochs=epochs, text=text)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    spec = write_spec(folder)
    result = train_file(spec, ["train.epochs=3"], TrainOptions(runs_dir=folder / "runs", progress="quiet"))
    assert result.status == "completed"
    return result.run_dir


def test_run_folder_holds_every_artifact(finished: Path) -> None:
    names = {p.name for p in finished.iterdir()}
    assert {"spec.yaml", "manifest.json", "model.keras", "best.keras", "history.csv", "history.json",
            "metrics.json", "summary.txt", "curves.png"} <= names
    assert not any(n.startswith(".") for n in names), "temporary files left behind"
    assert "backup" not in names  # a completed run needs no backup
    assert finished.parent.name == "small" and finished.parent.parent.name == "runs"


def test_manifest(finished: Path) -> None:
    m = json.loads((finished / "manifest.json").read_text())
    assert m["status"] == "completed" and m["error"] is None
    assert m["seed"] == 3 and m["overrides"] == ["train.epochs=3"]
    assert set(m["versions"]) == {"kerun", "tensorflow", "keras", "python"}
    assert m["started_at"] <= m["ended_at"] and m["host"]
    assert m["epochs_completed"] == 3
    assert "command" in m and "spec_path" in m


def test_spec_as_used_and_history(finished: Path) -> None:
    from kerun.spec import load_spec

    used = load_spec(finished / "spec.yaml")
    assert used.spec.train.epochs == 3
    rows = json.loads((finished / "history.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    with open(finished / "history.csv") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in csv_rows] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(csv_rows[0])


def test_metrics_for_every_split(finished: Path) -> None:
    metrics = json.loads((finished / "metrics.json").read_text())
    assert set(metrics) == {"train", "validation", "test"}
    assert all({"loss", "accuracy"} <= set(v) for v in metrics.values())
    assert (finished / "summary.txt").read_text().count("dense") >= 2
    assert (finished / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_writes_metrics_and_confusion_matrix(finished: Path) -> None:
    result = runner.invoke(app, ["eval", str(finished), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["split"] == "test" and data["examples"] == 24
    matrix = data["confusion_matrix"]["matrix"]
    assert len(matrix) == 3 and sum(map(sum, matrix)) == 24
    stored = json.loads((finished / "metrics.json").read_text())["test"]
    assert data["metrics"]["accuracy"] == pytest.approx(stored["accuracy"], abs=1e-6)
    assert (finished / "eval-test.json").is_file() and (finished / "confusion-test.png").is_file()
    text = runner.invoke(app, ["eval", str(finished), "--split", "validation"])
    assert text.exit_code == 0 and "confusion matrix" in text.stdout


def test_predict_equals_the_models_own_predictions(finished: Path, tmp_path: Path) -> None:
    import keras

    x = np.random.default_rng(0).uniform(size=(37, 8)).astype("float32")
    np.savez(tmp_path / "inputs.npz", x=x)
    for suffix in (".csv", ".npy", ".parquet"):
        out = tmp_path / f"pred{suffix}"
        result = runner.invoke(app, ["predict", str(finished), "--input", str(tmp_path / "inputs.npz"), "-o", str(out), "--batch-size", "8"])
        assert result.exit_code == 0, result.stderr
        model = keras.models.load_model(finished / "model.keras")
        expected = model.predict(x, verbose=0)
        if suffix == ".npy":
            got = np.load(out)
        elif suffix == ".csv":
            with open(out) as fh:
                rows = list(csv.DictReader(fh))
            got = np.array([[float(r[f"output_{i}"]) for i in range(3)] for r in rows])
            assert [int(r["output_class"]) for r in rows] == expected.argmax(axis=1).tolist()
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(out).to_pydict()
            got = np.stack([table[f"output_{i}"] for i in range(3)], axis=1)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_runs_and_show(finished: Path) -> None:
    runs_dir = finished.parent.parent
    listed = runner.invoke(app, ["runs", "--runs-dir", str(runs_dir), "--json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [r["status"] for r in rows] == ["completed"] and rows[0]["epochs"] == 3
    shown = runner.invoke(app, ["show", str(finished)])
    assert shown.exit_code == 0 and "completed" in shown.stdout and "model.keras" in shown.stdout


def _flat(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    return {f"{split}.{k}": v for split, values in metrics.items() for k, v in values.items()}


def test_same_seed_same_metrics(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, epochs=2)
    a = train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    b = train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert a.run_dir != b.run_dir  # never overwritten
    # multi-threaded CPU kernels may sum in another order: equal to float32 rounding (README)
    assert _flat(a.metrics) == pytest.approx(_flat(b.metrics), rel=1e-6, abs=1e-7)
    c = train_file(spec, ["seed=4"], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert _flat(c.metrics) != pytest.approx(_flat(a.metrics), rel=1e-3)


def test_deterministic_setting_gives_identical_metrics(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, epochs=2)
    runs = [train_file(spec, ["train.deterministic=true"], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
            for _ in range(2)]
    assert runs[0].metrics == runs[1].metrics


def test_resume_refuses_a_changed_model(finished: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    manifest = json.loads((finished / "manifest.json").read_text())
    (finished / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    try:
        with pytest.raises(RunError) as err:
            train_file(spec, ["model.layers.0.units=17"], TrainOptions(resume=finished, progress="quiet"))
        assert "model differs" in err.value.message
    finally:
        (finished / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("status", ["completed", "pruned"])
def test_resume_refuses_a_whole_run(finished: Path, tmp_path: Path, status: str) -> None:
    # a sweep's pruned trial is whole and its backup is gone: resuming it would start over unseen
    manifest = json.loads((finished / "manifest.json").read_text())
    (finished / "manifest.json").write_text(json.dumps({**manifest, "status": status, "pruned_at_epoch": 2}))
    try:
        with pytest.raises(RunError) as err:
            train_file(write_spec(tmp_path), [], TrainOptions(resume=finished, progress="quiet"))
        assert "there is nothing to resume" in err.value.message
        assert ("pruner after epoch 2" in err.value.message) == (status == "pruned")
        assert json.loads((finished / "manifest.json").read_text())["status"] == status  # left as it was
        from kerun.run.rundir import RunDir

        held = RunDir.open(finished)
        held.lock()  # the refusal let go of the folder: this process (a warm worker) can take it again
        held.unlock()
    finally:
        (finished / "manifest.json").write_text(json.dumps(manifest))


def _start(spec: Path, runs: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "kerun", "train", str(spec), "--runs-dir", str(runs), "--quiet", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            preexec_fn=ctrl_c_as_in_a_terminal)


def _wait_for_epochs(runs: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for history in runs.glob("*/*/history.json"):
            try:
                if len(json.loads(history.read_text())) >= n:
                    return history.parent
            except (json.JSONDecodeError, OSError):
                pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("training did not reach the epoch in time")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT", "SIGTERM"])
def test_killed_or_interrupted_run_resumes(tmp_path: Path, how: str) -> None:
    spec = write_spec(tmp_path, size=4000, epochs=6)
    runs = tmp_path / "runs"
    proc = _start(spec, runs)
    run_dir = _wait_for_epochs(runs, 2, proc)
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    done = len(json.loads((run_dir / "history.json").read_text()))
    assert 2 <= done < 6
    if how == "SIGKILL":
        assert proc.returncode == -9 and manifest["status"] == "running"  # what a kill leaves
    else:
        assert proc.returncode == 130, err
        assert manifest["status"] == "interrupted" and "resume" in err
    assert (run_dir / "backup").is_dir()
    if how != "SIGKILL":  # a kill may land mid-write and leave a temporary; a resume removes it
        assert not list(run_dir.glob(".*")), "a temporary file was left behind"

    resumed = subprocess.run([sys.executable, "-m", "kerun", "train", "--resume", str(run_dir), "--json"],
                             capture_output=True, text=True, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "completed" and Path(result["run_dir"]) == run_dir
    epochs = [r["epoch"] for r in json.loads((run_dir / "history.json").read_text())]
    assert epochs == [1, 2, 3, 4, 5, 6]  # no gap, no duplicate
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and len(manifest["resumes"]) == 1
    assert not list(run_dir.glob(".*")), "a temporary file survived the resume"
    assert len(list(runs.glob("*/*"))) == 1  # the same run folder, no new one


NAN_SPEC = """\
name: exploding
seed: 1
data:
  train: {type: synthetic, size: 256, fields: {x: {shape: [4], min: 1000, max: 100000}, y: {shape: [1], min: 1000, max: 100000}}}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 1, name: y}
compile:
  optimizer: {type: SGD, learning_rate: 1000.0}
  loss: mse
  steps_per_execution: 1
train:
  epochs: 5
  batch_size: 16
"""


def test_nan_loss_stops_and_fails_the_run(tmp_path: Path) -> None:
    spec = tmp_path / "nan.yaml"
    spec.write_text(NAN_SPEC)
    result = runner.invoke(app, ["train", str(spec), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 1
    assert "the loss became" in result.stderr and "Traceback" not in result.stderr
    run_dir = next((tmp_path / "runs" / "exploding").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "the loss became" in manifest["error"]
    assert not (run_dir / "model.keras").exists()


def test_callback_paths_cannot_leave_the_run_folder(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, text=SMALL.replace("save_best_only: true}", "save_best_only: true, filepath: ../../escape.keras}"))
    with pytest.raises(SpecError) as err:  # refused before training, at the value's line
        train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert "outside the run folder" in err.value.message
    assert not (tmp_path / "escape.keras").exists()


def test_main_job_reaches_the_promised_accuracy(tmp_path: Path) -> None:
    result = train_file(SPECS / "iris_mlp.yaml", [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert result.metrics["test"]["accuracy"] >= 0.9


def test_eval_on_another_source(finished: Path, tmp_path: Path) -> None:
    source = tmp_path / "more.yaml"
    source.write_text("{type: synthetic, size: 40, seed: 11, fields: {x: {shape: [8]}, label: {classes: 3}}}\n")
    result = runner.invoke(app, ["eval", str(finished), "--data", str(source), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["split"] == "data-more" and data["examples"] == 40
    assert sum(map(sum, data["confusion_matrix"]["matrix"])) == 40
    assert (finished / "eval-data-more.json").is_file()


def test_history_writes_are_paced_but_every_row_lands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short epochs do not each rewrite the two fsynced history files; the rows are all there at
    the end, and the files are written before every backup."""
    import kerun.run.callbacks as kc
    import kerun.run.session as ks
    from kerun.run.rundir import RunDir

    writes: list[str] = []
    real = RunDir.write_text

    def counting(self: RunDir, name: str, text: str) -> None:
        writes.append(name)
        real(self, name, text)

    monkeypatch.setattr(RunDir, "write_text", counting)
    monkeypatch.setattr(kc, "HISTORY_PACE", 10**9)  # only the first epoch's write is ever "due"
    monkeypatch.setattr(ks, "BACKUP_PACE", 10**9)
    result = train_file(write_spec(tmp_path, epochs=8), [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    rows = list(csv.DictReader(open(result.run_dir / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    # epoch 1 (first write), before the first backup, at the end: not once per epoch
    assert 1 <= writes.count("history.csv") <= 3
    writes.clear()
    monkeypatch.setattr(kc, "HISTORY_PACE", 0)
    train_file(write_spec(tmp_path, epochs=8), [], TrainOptions(runs_dir=tmp_path / "runs2", progress="quiet"))
    assert writes.count("history.csv") == 8
