"""MLflow tracking (kerun.run.tracking): the embedded SQLite store, a real ``mlflow server`` on
127.0.0.1 (one start for the module), a server that dies mid-run; a sweep's parent and children
and its TensorBoard HParams dashboard, read back from the event files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow", reason="MLflow tracking is the optional extra kerun[mlflow]")

from kerun.run import tracking  # noqa: E402
from kerun.run.options import TrainOptions  # noqa: E402
from kerun.run.train import train_file  # noqa: E402

pytestmark = pytest.mark.tf

SPEC = """\
name: tracked
seed: 5
data:
  train: {type: synthetic, size: 64, fields: {x: {shape: [4]}, label: {classes: 3}}, seed: 2}
  validation: {split: 0.25}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
train: {epochs: %(epochs)d, batch_size: 16}
tracking: mlflow
"""
OVERRIDES = ["train.batch_size=8"]


def _spec(folder: Path, epochs: int = 2) -> Path:
    path = folder / "tracked.yaml"
    path.write_text(SPEC % {"epochs": epochs})
    return path


def _train(spec: Path, runs: Path, epochs: int | None = None) -> Any:
    return train_file(spec, OVERRIDES, TrainOptions(runs_dir=runs, progress="quiet", epochs=epochs))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real tracking server on a free port of 127.0.0.1, its store in a tmp folder, started once
    for the module and always stopped. Its start takes long (two processes import MLflow's server
    and migrate a new database): the first test asks for it without waiting, so it starts meanwhile."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp / 'db'}", "--artifacts-destination",
         str(tmp / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "proc": proc, "log": tmp / "server.log"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        log.close()


@pytest.fixture
def server(server_process: dict[str, Any]) -> dict[str, Any]:
    """The module's server, once its health endpoint answers."""
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{server_process['url']}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server_process
        except OSError:
            pass
        if server_process["proc"].poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"mlflow server did not start: {server_process['log'].read_text()[-2000:]}")
        time.sleep(0.3)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # MLflow's own defaults (./mlflow.db, ./mlruns) never land in the repository


def _check_tracked(client: Any, result: Any, tmp: Path) -> None:
    """The run in MLflow: parameters (an override included), a metric per epoch, final metrics,
    artifacts, tags, and the model in the Keras flavour predicting what kerun predict writes."""
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    entry = manifest["mlflow"]
    assert entry["status"] == "logged", entry
    run = client.get_run(entry["run_id"])
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["train.batch_size"] == "8"  # the override, not the file's 16
    assert params["compile.optimizer.learning_rate"] == "0.01" and params["model.layers.0.units"] == "3"
    assert params["tracking"] == "mlflow"
    losses = client.get_metric_history(entry["run_id"], "loss")
    assert sorted(m.step for m in losses) == [1, 2]
    rows = json.loads((result.run_dir / "history.json").read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert [round(m.value, 5) for m in sorted(losses, key=lambda m: m.step)] == [round(r["loss"], 5) for r in rows]
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert run.data.metrics["final.validation.loss"] == pytest.approx(metrics["validation"]["loss"])
    assert run.data.tags["kerun.run_dir"] == str(result.run_dir.resolve()) and run.data.tags["kerun.version"]
    names = {a.path for a in client.list_artifacts(entry["run_id"])}
    assert {"spec.yaml", "manifest.json", "metrics.json", "history.csv", "curves.png", "model"} <= names, names
    assert "model.keras" not in names  # the model is there in MLflow's Keras flavour instead
    sent = Path(client.download_artifacts(entry["run_id"], "spec.yaml", str(tmp)))
    assert sent.read_text() == (result.run_dir / "spec.yaml").read_text()

    from kerun.run.predict import predict_run

    rows_in = np.random.default_rng(0).normal(size=(7, 4)).astype("float32")
    np.savez(tmp / "rows.npz", x=rows_in)
    predict_run(result.run_dir, tmp / "rows.npz", tmp / "pred.npy")
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(client.tracking_uri)  # runs:/ URIs resolve through the global tracking URI
    try:
        model = mlflow.keras.load_model(f"runs:/{entry['run_id']}/model")
    finally:
        mlflow.set_tracking_uri(before)
    np.testing.assert_allclose(np.asarray(model.predict(rows_in, verbose=0)), np.load(tmp / "pred.npy"), rtol=1e-5, atol=1e-6)


def test_embedded_store_beside_the_runs(server_process: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(``server_process``: only started here, for the next tests.)"""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", tracking.PARENT_ENV):
        monkeypatch.delenv(name, raising=False)
    runs = tmp_path / "runs"
    result = _train(_spec(tmp_path), runs)
    assert (runs / "mlflow.db").is_file()  # sqlite:///runs/mlflow.db, what `mlflow ui --backend-store-uri` is given
    client = mlflow.MlflowClient(f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracked")  # the spec's name
    assert experiment.artifact_location == (runs / "mlartifacts").resolve().as_uri()
    _check_tracked(client, result, tmp_path)


def test_tracking_server(server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert server["proc"].poll() is None, "the module's server is stopped by test_server_going_down, which runs last"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "kerun-tests")
    result = _train(_spec(tmp_path), tmp_path / "runs")
    assert not (tmp_path / "runs" / "mlflow.db").exists()  # MLflow's own configuration wins
    client = mlflow.MlflowClient(server["url"])
    assert client.get_run(json.loads((result.run_dir / "manifest.json").read_text())["mlflow"]["run_id"]).info.experiment_id \
        == client.get_experiment_by_name("kerun-tests").experiment_id
    _check_tracked(client, result, tmp_path)


def test_server_going_down(server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capfd: pytest.CaptureFixture[str]) -> None:
    """The server is killed after the first epoch: training completes, one warning line, the run
    folder is whole, and the manifest says where tracking stopped. (Last: it stops the module's server.)"""
    import keras

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    original = tracking.Tracker.callback

    def killing(self: Any) -> Any:
        inner = original(self)

        class KillAfterFirstEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                inner.on_epoch_end(epoch, logs)
                if epoch == 0:
                    os.killpg(server["proc"].pid, 9)
                    server["proc"].wait()

        return KillAfterFirstEpoch()

    monkeypatch.setattr(tracking.Tracker, "callback", killing)
    capfd.readouterr()
    t0 = time.monotonic()
    result = _train(_spec(tmp_path, epochs=3), tmp_path / "runs")
    seconds = time.monotonic() - t0
    err = capfd.readouterr().err
    assert result.status == "completed" and result.epochs == 3
    warnings = [line for line in err.splitlines() if "MLflow tracking stopped" in line]
    assert len(warnings) == 1, err
    assert "Traceback" not in err
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["mlflow"]["status"].startswith("stopped: logging the metrics of step 2"), manifest["mlflow"]
    for name in ("model.keras", "metrics.json", "history.csv", "spec.yaml", "curves.png"):
        assert (result.run_dir / name).is_file(), name
    rows = json.loads((result.run_dir / "history.json").read_text())
    assert len(rows["rows"] if isinstance(rows, dict) else rows) == 3
    assert seconds < 60, f"a dead server cost {seconds:.0f}s"  # bounded retries; unbounded MLflow retries for minutes


def test_sweep_parent_children_and_hparams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tracked sweep of two trials: one parent MLflow run, each trial a child; the HParams
    dashboard holds each trial's values and objective (read back with TensorBoard's own reader)."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", tracking.PARENT_ENV):
        monkeypatch.delenv(name, raising=False)
    from kerun.orchestrate.sweep import SweepOptions, sweep_file

    spec = _spec(tmp_path, epochs=1)
    spec.write_text(spec.read_text() + "sweep:\n  method: grid\n  objective: {metric: val_loss, direction: min}\n"
                    "  space:\n    compile.optimizer.learning_rate: [0.01, 0.1]\n")
    runs = tmp_path / "runs"
    result = sweep_file(spec, (), SweepOptions(runs_dir=runs, jobs=1))
    client = mlflow.MlflowClient(f"sqlite:///{runs / 'mlflow.db'}")
    parent_id = json.loads((result.folder / "sweep.json").read_text())["mlflow"]["run_id"]
    experiment = client.get_experiment_by_name("tracked")
    children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    assert sorted(c.data.params["compile.optimizer.learning_rate"] for c in children) == ["0.01", "0.1"]
    parent = client.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.data.metrics["best.val_loss"] == pytest.approx(result.best["value"])

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    logdir = result.folder / "tensorboard"
    top = EventAccumulator(str(logdir))
    top.Reload()
    experiment_pb = metadata.parse_experiment_plugin_data(top.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content)
    assert [h.name for h in experiment_pb.hparam_infos] == ["compile.optimizer.learning_rate"]
    assert [m.name.tag for m in experiment_pb.metric_infos] == ["val_loss"]
    seen = {}
    for row in result.trials:
        acc = EventAccumulator(str(logdir / f"trial-{int(row['trial']):04d}"))
        acc.Reload()
        start = metadata.parse_session_start_info_plugin_data(acc.SummaryMetadata(metadata.SESSION_START_INFO_TAG).plugin_data.content)
        lr = start.hparams["compile.optimizer.learning_rate"].number_value
        seen[round(lr, 6)] = acc.Scalars("val_loss")[0].value
    expected = {round(float(r["compile.optimizer.learning_rate"]), 6): float(r["value"]) for r in result.trials}
    assert seen == pytest.approx(expected)
