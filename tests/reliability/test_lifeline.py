"""Children of kerun (sweep trials, launched workers, check workers) do not outlive it: a kerun
killed outright takes its children with it, and a killed sweep's trial stops as interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerun_testing import SPECS

MIDDLE = r"""
import os, subprocess, sys, time
from kerun.orchestrate.lifeline import child_env
env = child_env(dict(os.environ)) if sys.argv[1] == "held" else dict(os.environ)
child = subprocess.Popen([sys.executable, "-c",
    "import time\nfrom kerun.orchestrate.lifeline import hold\nhold()\nprint('ready', flush=True)\ntime.sleep(120)"],
    env=env, start_new_session=True, stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _gone_within(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _orphan(tmp_path: Path, mode: str) -> int:
    """Start a parent that starts a child, kill the parent with SIGKILL; the child's pid."""
    script = tmp_path / "middle.py"
    script.write_text(MIDDLE)
    middle = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    pid = int(middle.stdout.readline())
    middle.kill()
    middle.wait()
    return pid


@pytest.mark.skipif(os.name != "posix", reason="POSIX process model")
def test_a_child_dies_with_its_killed_parent(tmp_path: Path) -> None:
    held = _orphan(tmp_path, "held")
    assert _gone_within(held, 10), "the child outlived its killed parent"


@pytest.mark.skipif(os.name != "posix", reason="POSIX process model")
def test_without_the_lifeline_the_child_lives_on(tmp_path: Path) -> None:
    free = _orphan(tmp_path, "free")
    try:
        assert not _gone_within(free, 2)  # what the lifeline prevents
    finally:
        os.kill(free, signal.SIGKILL)


@pytest.mark.skipif(os.name != "posix", reason="POSIX process model")
def test_a_killed_sweep_stops_its_running_trial(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    sweep = subprocess.Popen([sys.executable, "-m", "kerun", "sweep", str(SPECS / "iris_sweep.yaml"), "--set", "train.epochs=100000",
                              "--set", "sweep.trials=1", "--runs-dir", str(runs), "--json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    manifest = None
    trial = None
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and manifest is None:
            for path in runs.glob("**/trials/trial-*/manifest.json"):
                data = json.loads(path.read_text())
                if data.get("phase") == "train":
                    manifest = path
            time.sleep(0.5)
        assert manifest is not None, "the trial never started training"
        trial = json.loads(manifest.read_text())["pid"]
        sweep.kill()
        sweep.wait()
        assert _gone_within(trial, 40), "the trial trained on after its sweep was killed"
        assert json.loads(manifest.read_text())["status"] == "interrupted"
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
        if trial is not None and _alive(trial):
            os.kill(trial, signal.SIGKILL)
