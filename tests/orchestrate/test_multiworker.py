"""multi_worker_mirrored on two local workers over loopback, launched by kerun launch."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerun.orchestrate.launch import launch
from kerun_testing import multiworker_spec as write


def test_two_workers_agree_and_write_one_run(tmp_path: Path) -> None:
    spec = write(tmp_path)
    result = launch(spec, 2, runs_dir=tmp_path / "runs", timeout=150)
    assert result.ok, [w.to_dict() for w in result.workers]
    chief, worker = result.workers
    assert chief.loss is not None and chief.loss == pytest.approx(worker.loss, rel=1e-6)
    for split in ("train", "validation"):
        assert chief.result["metrics"][split] == pytest.approx(worker.result["metrics"][split], rel=1e-6)
    runs = list((tmp_path / "runs" / "mw").iterdir())
    assert runs == [result.run_dir]
    assert chief.result["run_dir"] == worker.result["run_dir"] == str(result.run_dir)
    run = result.run_dir
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == 2
    assert len(json.loads((run / "history.json").read_text())) == 2
    assert not (run / "backup").exists()
    assert sorted(p.name for p in run.iterdir() if p.is_file() and p.name.startswith(".")) == []  # no temporaries left

    import keras

    model = keras.saving.load_model(run / "model.keras")
    probs = model.predict(np.random.default_rng(0).normal(size=(5, 8)).astype("float32"), verbose=0)
    assert probs.shape == (5, 3)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_a_killed_worker_restarts_from_the_backup(tmp_path: Path) -> None:
    epochs = 6
    spec = write(tmp_path, size=320, epochs=epochs)
    started: dict[int, list[Any]] = {}
    out: dict[str, Any] = {}
    history = None

    def on_start(attempt: int, procs: list[Any]) -> None:
        started[attempt] = procs

    def run() -> None:
        try:
            out["result"] = launch(spec, 2, runs_dir=tmp_path / "runs", timeout=170, grace=5, restarts=1, on_start=on_start)
        except BaseException as exc:  # pragma: no cover - reported below
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    snapshot: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and thread.is_alive():
        runs = list((tmp_path / "runs" / "mw").glob("*/history.json"))
        if runs:
            history = runs[0]
            try:
                snapshot = json.loads(history.read_text())
            except (OSError, json.JSONDecodeError):
                snapshot = []
            if len(snapshot) >= 2:
                os.kill(started[1][1].pid, signal.SIGKILL)  # worker 1, mid-training
                break
        time.sleep(0.05)
    thread.join(200)
    assert "error" not in out, out.get("error")
    result = out["result"]
    assert 2 <= len(snapshot) < epochs, "the worker was not killed mid-training"
    assert result.attempts == 2, [w.to_dict() for w in result.workers]
    assert result.ok, [w.to_dict() for w in result.workers]
    run = result.run_dir
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == epochs
    assert len(manifest["resumes"]) == 1
    final = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in final] == list(range(1, epochs + 1))
    # The epochs backed up before the kill were not trained again: their rows, timings included,
    # are the ones written before the kill (at most the epoch in flight is redone).
    kept = 0
    while kept < len(snapshot) and final[kept] == snapshot[kept]:
        kept += 1
    assert kept >= len(snapshot) - 1 >= 1, (snapshot, final)
    assert result.workers[0].loss == pytest.approx(result.workers[1].loss, rel=1e-6)
