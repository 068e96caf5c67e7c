"""The parent/child protocol of the commands that start other kerun processes.

``kerun check``, ``kerun sweep`` and ``kerun launch`` start children; this module is the one place
that says how:

- the child's command line (:func:`train_command`: an ordinary ``kerun train SPEC --json``; a warm
  worker: :func:`worker_command`) and its environment (:func:`child_environment`: the parent's
  lifeline, :data:`RUN_DIR_ENV`, quiet TensorFlow logs);
- how a child is started (:func:`start`: a session of its own, so a Ctrl-C in the terminal reaches
  kerun alone, which stops its children in order) and stopped (:func:`stop_group`: SIGTERM, so a
  training run ends ``interrupted`` and can be resumed, then SIGKILL after a grace period;
  :func:`kill_group`: SIGKILL at once);
- what a child says back: :func:`parse_result` reads the JSON object ``kerun train --json`` prints
  (whatever a plugin printed before it), :func:`stage_line` / :func:`parse_stage` the stage a check
  has reached, :func:`message_line` / :func:`parse_message` a warm worker's typed messages.

Standard library only (and the lifeline, and the run folder's names): the parent side never
imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Sequence

from kerun.orchestrate.lifeline import child_env

from kerun.run.rundir import RUN_DIR_ENV  # the run folder a ``kerun train`` child trains in (TF-free)


__all__ = ["GRACE", "RUN_DIR_ENV", "child_environment", "kill_group", "message_line", "parse_message",
           "parse_result", "parse_stage", "stage_line", "start", "stop_group", "train_command", "worker_command"]

STAGE_PREFIX = "KERUN_STAGE "
MESSAGE_PREFIX = "KERUN_MSG "
GRACE = 5.0
"""Seconds a child told to stop (SIGTERM) has before it is killed (TensorFlow's own threads may
ignore SIGTERM; a training run records ``interrupted`` within a second)."""


def kerun_command(*args: str) -> list[str]:
    """``kerun ARGS...`` run by this interpreter (the console script may not be on PATH)."""
    return [sys.executable, "-m", "kerun", *args]


def train_command(spec: Path, overrides: Sequence[str] = ()) -> list[str]:
    """``kerun train SPEC --set ... --json``: an ordinary training run that prints its result."""
    return kerun_command("train", str(spec), *[a for o in overrides for a in ("--set", o)], "--json")


def worker_command() -> list[str]:
    """A warm worker (:mod:`kerun.orchestrate.worker`): imports TensorFlow once, runs job after job."""
    return [sys.executable, "-m", "kerun.orchestrate.worker"]


def child_environment(*, run_dir: Path | None = None, tf_config: str | None = None, **extra: str) -> dict[str, str]:
    """The parent's environment for a child: the lifeline to this process, the run folder, the
    cluster (``TF_CONFIG`` is removed unless given: a trial is never part of someone's cluster)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(extra)
    if run_dir is not None:
        env[RUN_DIR_ENV] = str(run_dir)
    if tf_config is not None:
        env["TF_CONFIG"] = tf_config
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return child_env(env)


def start(command: list[str], env: dict[str, str], *, stdout: int | IO[Any] | None = None, stderr: int | IO[Any] | None = None,
          stdin: int | IO[Any] | None = subprocess.DEVNULL, cwd: str | None = None, pass_fds: Sequence[int] = (),
          text: bool = False) -> subprocess.Popen[Any]:
    """The child in a session (and process group) of its own."""
    return subprocess.Popen(command, stdout=stdout, stderr=stderr, stdin=stdin, env=env, cwd=cwd, pass_fds=tuple(pass_fds),
                            start_new_session=True, text=text)


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the child's process group (its own session, so nothing else), and reap it."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            proc.kill()
    proc.wait()


def stop_group(procs: Sequence[subprocess.Popen[Any]], grace: float = GRACE) -> None:
    """SIGTERM every child's group at once (a training run stops as ``interrupted``), SIGKILL those
    still running ``grace`` seconds later."""
    for p in procs:
        if p.poll() is None:
            _signal_group(p, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end and any(p.poll() is None for p in procs):
        time.sleep(0.05)
    for p in procs:
        kill_group(p)


def parse_result(text: str) -> dict[str, Any] | None:
    """The JSON object ``kerun train --json`` printed last (a plugin may have printed before it)."""
    text = text.strip()
    decoder = json.JSONDecoder()
    start = len(text)
    while True:
        start = text.rfind("\n{", 0, start)
        at = start + 1 if start >= 0 else (0 if text.startswith("{") else -1)
        if at < 0:
            return None
        try:
            value, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            value, end = None, -1
        if end == len(text) and isinstance(value, dict):
            return value
        if start < 0:
            return None


def stage_line(name: str) -> str:
    """What a check child prints when it reaches a stage."""
    return f"{STAGE_PREFIX}{name}"


def parse_stage(line: str) -> str | None:
    return line[len(STAGE_PREFIX):].split()[0] if line.startswith(STAGE_PREFIX) and line[len(STAGE_PREFIX):].strip() else None


def message_line(kind: str, **data: Any) -> str:
    """One typed message of a warm worker to its parent (on a channel of its own)."""
    return MESSAGE_PREFIX + json.dumps({"kind": kind, **data}) + "\n"


def parse_message(line: str) -> dict[str, Any] | None:
    if not line.startswith(MESSAGE_PREFIX):
        return None
    try:
        value = json.loads(line[len(MESSAGE_PREFIX):])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and "kind" in value else None
