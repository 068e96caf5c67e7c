"""Warm workers, the parent's side: processes that import TensorFlow once and run job after job.

``kerun check`` and ``kerun sweep`` hand each spec (or trial) to a :class:`WorkerPool`. A worker
(:mod:`kerun.orchestrate.worker`) is started ahead of its first job, so its TensorFlow import
overlaps the parent's own work, and is reused while it is healthy. A worker is replaced, and only
the job it was running fails, when it

- crashes (its result channel closes: "the check process died ..."),
- runs past the job's timeout (its process group is killed),
- holds more than ``memory_mb`` of resident memory during a job (killed; off when None);

and it is retired after a job that leaves it above ``recycle_mb`` (the job's result stands).
With ``isolate`` every job gets a new process, as before warm workers.

Why reuse rather than fork from a warm parent: measured here (two cores, TensorFlow 2.21), a tiny
fit + evaluate took 0.86-0.94 s in a reused process and 1.31-1.45 s in a child forked from a process
that had only imported TensorFlow (TensorFlow's runtime is initialised again in every fork, and a
parent that ever ran an op would deadlock its forks: its thread pools do not survive ``fork``).
``benchmarks/fork_vs_reuse.py`` repeats the measurement.

Standard library only: the parent never imports TensorFlow.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

from kerun.orchestrate.child import GRACE, child_environment, kill_group, parse_message, start, stop_group, worker_command

__all__ = ["JobOutcome", "WorkerPool"]

_END = "KERUN_MSG end"  # kerun.orchestrate.worker.END_MARKER (not imported: that module imports TensorFlow's users)
_POLL = 0.2
_TAIL = 20


@dataclass
class JobOutcome:
    """How one job ended: ``done`` (``result`` is the worker's answer), ``timeout``, ``died``,
    ``memory`` or ``interrupted``."""

    status: str
    result: dict[str, Any] | None = None
    stage: str | None = None  # the last stage the job reported
    exit_code: int | None = None  # the worker's, when it ended
    tail: list[str] = field(default_factory=list)  # the last lines the job printed
    seconds: float = 0.0


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


class _Worker:
    def __init__(self, env: dict[str, str]) -> None:
        read_fd, write_fd = os.pipe()
        env = {**env, "KERUN_WORKER_FD": str(write_fd)}
        try:
            self.proc = start(worker_command(), env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              pass_fds=[write_fd], text=True)
        finally:
            os.close(write_fd)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.sink: Callable[[str], None] | None = None
        self.job_output_done = threading.Event()
        self.rss: float | None = None  # resident MB after the last job, as the worker measured it
        self._lock = threading.Lock()
        threading.Thread(target=self._read_messages, args=(read_fd,), daemon=True).start()
        threading.Thread(target=self._read_output, daemon=True).start()

    def _read_messages(self, fd: int) -> None:
        with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as channel:
            for line in channel:
                message = parse_message(line)
                if message is not None:
                    self.messages.put(message)
        self.messages.put({"kind": "eof"})

    def _read_output(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                if line.rstrip("\n") == _END:
                    self.sink = None
                    self.job_output_done.set()
                elif self.sink is not None:
                    self.sink(line)
        self.job_output_done.set()

    def run(self, job: dict[str, Any], *, timeout: float, on_stage: Callable[[str], None], log: IO[str] | None,
            memory_mb: float | None, interrupted: threading.Event,
            on_report: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> JobOutcome:
        t0 = time.monotonic()
        tail: collections.deque[str] = collections.deque(maxlen=_TAIL)

        def sink(line: str) -> None:
            tail.append(line)
            if log is not None:
                log.write(line)
                log.flush()

        with self._lock:
            self.sink = sink
            self.job_output_done.clear()
        outcome = JobOutcome(status="died")
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        deadline = t0 + timeout
        while True:
            try:
                message = self.messages.get(timeout=_POLL)
            except queue.Empty:
                message = None
            if interrupted.is_set():
                outcome.status = "interrupted"
                break
            if message is None:
                if time.monotonic() > deadline:
                    outcome.status = "timeout"
                    break
                rss = _rss_mb(self.proc.pid) if memory_mb is not None else None
                if rss is not None and memory_mb is not None and rss > memory_mb:
                    outcome.status = "memory"
                    break
                continue
            kind = message["kind"]
            if kind == "stage":
                outcome.stage = message["name"]
                on_stage(message["name"])
            elif kind == "report":  # a pruned sweep's epoch: the worker waits for the answer on its input
                self.answer(on_report(message) if on_report is not None else {"prune": False})
            elif kind == "result":
                self.job_output_done.wait(timeout=2.0)
                outcome.status, outcome.result = "done", message["result"]
                self.rss = message.get("rss_mb")
                break
            elif kind == "eof":
                break
        if outcome.status in ("timeout", "memory"):
            kill_group(self.proc)
        if outcome.status in ("died", "interrupted"):
            try:
                self.proc.wait(timeout=GRACE + 1)
            except subprocess.TimeoutExpired:
                kill_group(self.proc)
            self.job_output_done.wait(timeout=2.0)
        if outcome.status != "done":
            outcome.exit_code = self.proc.returncode
        with self._lock:
            self.sink = None
        outcome.tail = list(tail)
        outcome.seconds = time.monotonic() - t0
        return outcome

    def answer(self, reply: dict[str, Any]) -> None:
        """One line to the job running (a pruned sweep's "prune or go on"); a worker gone is no error."""
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(reply) + "\n")
            self.proc.stdin.flush()

    def end_input(self) -> None:
        """No more jobs: the worker exits once the job it runs, if any, has ended."""
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    def close(self) -> None:
        """End of input: the worker finishes and exits; killed if it does not within a second."""
        if self.proc.poll() is None:
            self.end_input()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1.0)
        kill_group(self.proc)


class WorkerPool:
    """Up to ``size`` warm workers; :meth:`run` is called from up to ``size`` threads at once."""

    def __init__(self, size: int, *, isolate: bool = False, memory_mb: float | None = None, recycle_mb: float | None = 2048.0,
                 env: dict[str, str] | None = None) -> None:
        self.size, self.isolate = max(1, size), isolate
        self.memory_mb, self.recycle_mb = memory_mb, recycle_mb
        self.env = env if env is not None else child_environment(PYTHONUNBUFFERED="1")
        self.interrupted = threading.Event()
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self.started = 0

    def _new(self) -> _Worker:
        worker = _Worker(self.env)
        with self._lock:
            self._all.append(worker)
            self.started += 1
        return worker

    def warm(self, count: int) -> None:
        """Start ``count`` workers now (at most the pool's size), before their first job."""
        if self.isolate:
            return
        for _ in range(min(count, self.size) - len(self._idle)):
            worker = self._new()
            with self._lock:
                self._idle.append(worker)

    def run(self, job: dict[str, Any], *, timeout: float, on_stage: Callable[[str], None] = lambda _s: None,
            log: Path | None = None, on_report: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> JobOutcome:
        """Run ``job`` on a warm worker; ``on_report`` answers the job's ``report`` messages (a
        pruned sweep's trial, after each epoch) with ``{"prune": bool}``."""
        if self.interrupted.is_set():
            return JobOutcome(status="interrupted")
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        worker = worker or self._new()
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w", encoding="utf-8") if log is not None else contextlib.nullcontext() as fh:
            outcome = worker.run(job, timeout=timeout, on_stage=on_stage, log=fh, memory_mb=self.memory_mb,
                                 interrupted=self.interrupted, on_report=on_report)
        healthy = outcome.status == "done" and worker.proc.poll() is None
        if healthy and not self.isolate and not self.interrupted.is_set() and (
                self.recycle_mb is None or worker.rss is None or worker.rss <= self.recycle_mb):
            with self._lock:
                self._idle.append(worker)
        else:
            worker.close()
            with self._lock:
                self._all.remove(worker)
        return outcome

    def interrupt(self, grace: float = GRACE) -> None:
        """Tell every worker to stop now (SIGTERM: a training run ends ``interrupted``); SIGKILL
        after ``grace`` seconds. Jobs running end ``interrupted``; no new job starts."""
        self.interrupted.set()
        with self._lock:
            workers = list(self._all)
        for w in workers:
            w.end_input()
        stop_group([w.proc for w in workers], grace)

    def close(self) -> None:
        with self._lock:
            workers, self._idle, self._all = list(self._all), [], []
        for w in workers:
            w.close()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

