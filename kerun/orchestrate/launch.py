"""``kerun launch --workers N SPEC``: N local worker processes of one multi-worker run, on loopback.

Each worker is an ordinary ``kerun train SPEC --json`` process; the launcher gives each its own
``TF_CONFIG`` (one cluster of ``127.0.0.1:<free port>`` addresses, its own task index) and the same
``KERUN_RUN_DIR``, so all workers agree on one run folder, which the chief (worker 0) alone writes.

TensorFlow gives a launcher three jobs (shared/notes/distributed.md):

- a deadline: a worker whose peer never comes waits forever without a message;
- SIGKILL to stop a worker for sure (TensorFlow catches SIGTERM);
- restart everything after a failure: a survivor fails a few seconds after its peer died, and
  there is no in-place recovery. With ``restarts`` the launcher kills what is left, starts all
  workers again on fresh ports with the same run folder, and ``BackupAndRestore`` continues from
  the chief's last backed-up epoch.

Worker logs go to ``<run>/workers/attempt-<k>/worker-<i>.log`` (standard error) and ``.json``
(the worker's result), written by the launcher, never by a worker.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from kerun.errors import RunError
from kerun.orchestrate.child import child_environment, kill_group, parse_result, start, train_command
from kerun.spec import load_spec

__all__ = ["LaunchResult", "WorkerResult", "free_ports", "launch", "tf_config"]

POLL_SECONDS = 0.2


@dataclass
class WorkerResult:
    index: int
    exit_code: int | None
    status: str  # completed | failed | killed | timeout
    result: dict[str, Any] | None = None
    error: str | None = None
    log: Path | None = None

    @property
    def loss(self) -> float | None:
        metrics = (self.result or {}).get("metrics") or {}
        return (metrics.get("train") or {}).get("loss")

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "role": "chief" if self.index == 0 else "worker", "exit_code": self.exit_code,
                "status": self.status, "result": self.result, "error": self.error, "log": str(self.log) if self.log else None}


@dataclass
class LaunchResult:
    run_dir: Path
    workers: list[WorkerResult] = field(default_factory=list)
    attempts: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.workers) and all(w.status == "completed" for w in self.workers)

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "ok": self.ok, "attempts": self.attempts, "seconds": round(self.seconds, 3),
                "workers": [w.to_dict() for w in self.workers]}


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports free on ``host`` now (all held open together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(addresses: Sequence[str], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of workers (worker 0 is the chief)."""
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


def _new_run_dir(runs_dir: Path, name: str) -> Path:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return (runs_dir / name).resolve() / f"{stamp}-{secrets.token_hex(3)}"


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        return parse_result(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def _error_of(result: dict[str, Any] | None, log: Path) -> str | None:
    if result and result.get("problems"):
        return "\n".join(p.get("message", "") for p in result["problems"])
    if result and result.get("error"):
        return str(result["error"])
    try:
        lines = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1] if lines else None


def launch(
    spec: Path,
    workers: int,
    overrides: Sequence[str] = (),
    runs_dir: Path = Path("runs"),
    *,
    timeout: float = 600.0,
    grace: float = 15.0,
    restarts: int = 0,
    run_dir: Path | None = None,
    on_start: Callable[[int, list[subprocess.Popen[bytes]]], None] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> LaunchResult:
    """Train ``spec`` on ``workers`` local processes; return every worker's result.

    ``timeout`` bounds the whole launch; ``grace`` is how long the others may run on after one
    worker ended (they finish within a second or two when all is well, and otherwise wait for a
    dead peer); ``restarts`` is how often all workers are started again after a failure.
    ``on_start(attempt, processes)`` is told of each start (tests use it to kill a worker)."""
    if workers < 1:
        raise RunError(f"--workers must be at least 1, got {workers}")
    loaded = load_spec(spec, overrides)
    if loaded.spec.distribute.strategy != "multi_worker_mirrored":
        raise RunError(
            f"kerun launch trains with distribute.strategy: multi_worker_mirrored; {spec} says "
            f"{loaded.spec.distribute.strategy!r}",
            location=loaded.doc.locate(("distribute", "strategy")),
            hint="set it in the spec, or add --set distribute.strategy=multi_worker_mirrored",
        )
    say = on_event or (lambda _msg: None)
    folder = (run_dir or _new_run_dir(runs_dir, loaded.name)).resolve()
    result = LaunchResult(run_dir=folder)
    t0 = time.monotonic()
    deadline = t0 + timeout
    command = train_command(spec.resolve(), overrides)
    for attempt in range(1, restarts + 2):
        result.attempts = attempt
        logs = folder / "workers" / f"attempt-{attempt}"
        logs.mkdir(parents=True, exist_ok=True)
        addresses = [f"127.0.0.1:{p}" for p in free_ports(workers)]
        procs: list[subprocess.Popen[bytes]] = []
        files = []
        try:
            for i in range(workers):
                env = child_environment(run_dir=folder, tf_config=tf_config(addresses, i))
                out, err = open(logs / f"worker-{i}.json", "wb"), open(logs / f"worker-{i}.log", "wb")
                files += [out, err]
                procs.append(start(command, env, stdout=out, stderr=err, cwd=os.getcwd()))
            say(f"attempt {attempt}: {workers} workers on {', '.join(addresses)}, run folder {folder}")
            if on_start is not None:
                on_start(attempt, procs)
            statuses = _supervise(procs, deadline, grace, say)
        except BaseException:
            for p in procs:
                kill_group(p)
            raise
        finally:
            for f in files:
                f.close()
        result.workers = []
        for i, (proc, status) in enumerate(zip(procs, statuses)):
            res = _read_result(logs / f"worker-{i}.json")
            if status == "exited":
                status = "completed" if proc.returncode == 0 and res and res.get("status") == "completed" else "failed"
            result.workers.append(WorkerResult(i, proc.returncode, status, res,
                                               None if status == "completed" else _error_of(res, logs / f"worker-{i}.log"),
                                               logs / f"worker-{i}.log"))
        if result.ok or any(w.status == "timeout" for w in result.workers) or attempt > restarts:
            break
        say(f"attempt {attempt} failed ({'; '.join(f'worker {w.index}: {w.status}' for w in result.workers)}); restarting all workers")
    result.seconds = time.monotonic() - t0
    return result


def _supervise(procs: list[subprocess.Popen[bytes]], deadline: float, grace: float, say: Callable[[str], None]) -> list[str]:
    """Wait for every worker; SIGKILL those still running ``grace`` s after another ended, or at the deadline."""
    statuses = ["running"] * len(procs)
    first_end: float | None = None
    while True:
        now = time.monotonic()
        for i, p in enumerate(procs):
            if statuses[i] == "running" and p.poll() is not None:
                statuses[i] = "exited"
                first_end = first_end or now
                if p.returncode != 0:
                    say(f"worker {i} ended with exit code {p.returncode}")
        if "running" not in statuses:
            return statuses
        if now > deadline or (first_end is not None and now - first_end > grace):
            why = "timeout" if now > deadline else "killed"
            for i, p in enumerate(procs):
                if statuses[i] == "running":
                    say(f"worker {i} still running {'at the deadline' if why == 'timeout' else f'{grace:.0f}s after a peer ended'}: SIGKILL")
                    kill_group(p)
                    statuses[i] = why
            return statuses
        time.sleep(POLL_SECONDS)
