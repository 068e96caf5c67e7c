"""Ctrl-C stops ``kerun check`` and ``kerun sweep`` at once: the children are told to stop, a
trial ends ``interrupted`` (and runs again when the sweep continues), and the parent exits 130
within seconds instead of waiting for its children to finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerun_testing import ctrl_c_as_in_a_terminal

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

# A plugin that takes two minutes to import: the child is busy (stage build) when Ctrl-C comes.
SLOW = "import os, time\nfrom pathlib import Path\nPath(os.environ['KERUN_TEST_MARK']).write_text(str(os.getpid()))\ntime.sleep(120)\n"

SPEC = """\
name: slow
seed: 0
plugins: [slow.py]
data:
  train: {type: synthetic, size: 64, fields: {x: {shape: [4]}, label: {classes: 2}}}
  validation: {split: 0.25}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
train: {epochs: 1, batch_size: 8}
"""

SWEEP = """\
sweep:
  method: grid
  objective: {metric: val_accuracy, direction: max}
  space:
    train.batch_size: [8, 16]
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _interrupt_when_busy(args: list[str], mark: Path) -> tuple[subprocess.Popen[str], int, float]:
    """Start kerun, wait until its child is inside the slow plugin, press Ctrl-C (SIGINT to kerun
    alone, as the terminal does: the children are in sessions of their own); (process, child pid,
    seconds until kerun exited)."""
    env = {**os.environ, "KERUN_TEST_MARK": str(mark)}
    proc = subprocess.Popen([sys.executable, "-m", "kerun", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True, preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        end = time.monotonic() + 120
        while not mark.exists() or not mark.read_text():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < end, "the child never started"
            time.sleep(0.2)
        child = int(mark.read_text())
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("kerun did not stop within 30 s of Ctrl-C")
        return proc, child, time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_ctrl_c_stops_kerun_check(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    (tmp_path / "slow.yaml").write_text(SPEC)
    proc, child, seconds = _interrupt_when_busy(["check", str(tmp_path / "slow.yaml"), "--steps", "1"], tmp_path / "mark")
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    assert seconds < 15
    assert "kerun check interrupted: 0 of 1 specs checked" in err
    assert not _alive(child)


def test_ctrl_c_stops_kerun_sweep_and_its_trial_is_asked_again(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    (tmp_path / "slow.yaml").write_text(SPEC + SWEEP)
    runs = tmp_path / "runs"
    proc, child, seconds = _interrupt_when_busy(["sweep", str(tmp_path / "slow.yaml"), "--runs-dir", str(runs)], tmp_path / "mark")
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    assert seconds < 15
    assert "the sweep was interrupted" in err and "kerun sweep --resume" in err
    assert not _alive(child)
    (folder,) = (runs / "slow").glob("sweep-*")
    assert json.loads((folder / "sweep.json").read_text())["status"] == "interrupted"
    (trial,) = (folder / "trials").glob("trial-*/manifest.json")
    assert json.loads(trial.read_text())["status"] == "interrupted"  # told to stop, not killed
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{folder / 'study.db'}")
    (stopped,) = [t for t in study.get_trials() if t.user_attrs.get("interrupted")]
    waiting = study.get_trials(states=(TrialState.WAITING,))
    # the same values run first when the sweep continues
    assert [t.system_attrs.get("fixed_params") for t in waiting] == [stopped.params] and stopped.params["train.batch_size"] in (8, 16)
