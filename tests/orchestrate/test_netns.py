"""multi_worker_mirrored across two network namespaces: TensorFlow's gRPC traffic leaves loopback.

Each worker runs in a namespace of its own (``ip netns exec``), the two joined by a veth pair, each
with its own address in a private 10.200.X.0/24 subnet and the same port (as on two hosts); the
run folder is one folder both see (``KERUN_RUN_DIR``), each worker has a private ``TMPDIR``.
Needs root (CAP_NET_ADMIN) and ``ip``; skipped with the reason otherwise. The namespaces and the
veth are deleted in a ``finally``, and those a crashed earlier run left (same prefix, idle, older
than ten minutes) are deleted first.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from kerun.orchestrate.child import child_environment, kill_group, parse_result, start, train_command
from kerun.orchestrate.launch import launch, tf_config
from kerun_testing import multiworker_spec as write  # the spec of the loopback tests, test_multiworker.py

PREFIX = "kerun-nt"
PORT = 2222


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _clean_stale() -> None:
    """Delete namespaces of this prefix that a crashed run left: no process in them, ten minutes old."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        path = Path("/run/netns") / name
        if not name.startswith(PREFIX) or not path.exists() or time.time() - path.stat().st_mtime < 600:
            continue
        if not _ip("netns", "pids", name, check=False).stdout.strip():
            _ip("netns", "del", name, check=False)


class Pair:
    """Two namespaces ``<prefix><hex>-a`` and ``-b`` joined by a veth pair, 10.200.X.1 and .2."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.names = [f"{PREFIX}{tag}-a", f"{PREFIX}{tag}-b"]
        self.links = [f"kn{tag}a", f"kn{tag}b"]  # interface names have at most 15 characters
        subnet = secrets.randbelow(250) + 1
        self.addresses = [f"10.200.{subnet}.1", f"10.200.{subnet}.2"]

    def create(self) -> None:
        for ns in self.names:
            _ip("netns", "add", ns)
        _ip("link", "add", self.links[0], "type", "veth", "peer", "name", self.links[1])
        for ns, link, address in zip(self.names, self.links, self.addresses):
            _ip("link", "set", link, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", link)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", link, "up")

    def delete(self) -> None:
        for ns, link in zip(self.names, self.links):
            _ip("-n", ns, "link", "del", link, check=False)  # deleting one end deletes the pair
            _ip("netns", "del", ns, check=False)

    def bytes_through(self, i: int) -> int:
        """Bytes received and sent on worker ``i``'s veth end (never loopback)."""
        stats = json.loads(_ip("-n", self.names[i], "-s", "-j", "link", "show", "dev", self.links[i]).stdout)[0]["stats64"]
        return int(stats["rx"]["bytes"]) + int(stats["tx"]["bytes"])

    def cluster(self, port: int = PORT) -> list[str]:
        return [f"{a}:{port}" for a in self.addresses]


def _namespaces_available() -> str | None:
    if os.name != "posix" or os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN)"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    probe = f"{PREFIX}probe{secrets.token_hex(2)}"
    made = _ip("netns", "add", probe, check=False)
    _ip("netns", "del", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace here: {made.stderr.strip()}"
    return None


_WHY = _namespaces_available()
needs_namespaces = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")


def test_cluster_addresses_and_the_wait_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from kerun.errors import RunError
    from kerun.run.multiworker import CLUSTER_WAIT, cluster_wait, split_address

    assert split_address("10.200.3.2:2222") == ("10.200.3.2", 2222)
    assert split_address("[fd00::2]:2222") == ("fd00::2", 2222)
    assert split_address("worker-1.kerun.svc.cluster.local:2222") == ("worker-1.kerun.svc.cluster.local", 2222)
    for bad in ("10.200.3.2", "10.200.3.2:", ":2222", "10.200.3.2:70000"):
        with pytest.raises(RunError, match="is not host:port"):
            split_address(bad)
    monkeypatch.delenv("KERUN_CLUSTER_WAIT", raising=False)
    assert cluster_wait() == CLUSTER_WAIT == 300
    monkeypatch.setenv("KERUN_CLUSTER_WAIT", "45")
    assert cluster_wait() == 45
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv("KERUN_CLUSTER_WAIT", bad)
        with pytest.raises(RunError, match="expected a positive number of seconds"):
            cluster_wait()


@pytest.fixture
def pair() -> Iterator[Pair]:
    _clean_stale()
    p = Pair()
    try:
        p.create()
        yield p
    finally:
        p.delete()
    assert not any(ns in _ip("netns", "list").stdout for ns in p.names)


class Worker:
    """``ip netns exec NS kerun train SPEC --json`` with its TF_CONFIG, the shared run folder, its own TMPDIR."""

    def __init__(self, pair: Pair, index: int, spec: Path, run_dir: Path, logs: Path, *,
                 cluster: list[str] | None = None, task: int | None = None, **env: str) -> None:
        self.index, self.logs = index, logs
        self.tmp = logs / f"tmp-{index}"
        self.tmp.mkdir(parents=True, exist_ok=True)
        config = tf_config(cluster or pair.cluster(), index if task is None else task)
        environment = child_environment(run_dir=run_dir, tf_config=config, TMPDIR=str(self.tmp), **env)
        self.out = open(logs / f"worker-{index}.json", "wb")
        self.err = open(logs / f"worker-{index}.log", "wb")
        self.t0 = time.monotonic()
        self.proc = start(["ip", "netns", "exec", pair.names[index], *train_command(spec)], environment,
                          stdout=self.out, stderr=self.err, cwd=str(logs))
        self.seconds: float | None = None
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        self.proc.wait()
        self.seconds = time.monotonic() - self.t0  # when it ended, whenever the test looks

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
            code = None
        self._reaper.join(5)
        self.out.close()
        self.err.close()
        return code

    @property
    def result(self) -> dict[str, Any]:
        return parse_result((self.logs / f"worker-{self.index}.json").read_text()) or {}

    @property
    def log(self) -> str:
        return (self.logs / f"worker-{self.index}.log").read_text(errors="replace")


def _run_files(run: Path) -> list[str]:
    return sorted(p.name for p in run.iterdir())


@needs_namespaces
def test_two_namespaces_train_one_run_with_a_worker_20s_late(pair: Pair, tmp_path: Path) -> None:
    spec = write(tmp_path)
    run, logs = tmp_path / "shared" / "run", tmp_path / "logs"
    logs.mkdir()
    before = pair.bytes_through(0)
    reference: dict[str, Any] = {}

    def loopback() -> None:  # the same spec on loopback, while the chief waits for its peer
        reference["result"] = launch(spec, 2, runs_dir=tmp_path / "loopback", timeout=150)

    chief = Worker(pair, 0, spec, run, logs)
    thread = threading.Thread(target=loopback)
    thread.start()
    # Meanwhile, a worker whose peer never comes (nothing listens on port 2223) fails within
    # KERUN_CLUSTER_WAIT, saying whom it waited for, instead of waiting forever.
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    silent = f"{pair.addresses[0]}:{PORT + 1}"
    alone = Worker(pair, 1, spec, lonely / "run", lonely, cluster=[f"{pair.addresses[1]}:{PORT + 1}", silent], task=0,
                   KERUN_CLUSTER_WAIT="5")
    # And a worker whose port another process holds is told so, not given a traceback.
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    taken = f"{pair.addresses[0]}:{PORT + 2}"
    holder = subprocess.Popen(["ip", "netns", "exec", pair.names[0], "python3", "-c",
                               f"import socket, time; s = socket.socket(); s.bind(('{pair.addresses[0]}', {PORT + 2})); "
                               "s.listen(); print('held', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    clash = Worker(pair, 0, spec, blocked / "run", blocked, cluster=[taken, f"{pair.addresses[1]}:{PORT + 2}"], task=0)
    time.sleep(max(0.0, 20 - (time.monotonic() - chief.t0)))
    assert chief.proc.poll() is None, f"the chief did not wait for its peer:\n{chief.log}"
    other = Worker(pair, 1, spec, run, logs)
    codes = [chief.wait(150), other.wait(150)]
    thread.join(150)
    alone_code = alone.wait(60)
    print(f"chief {chief.seconds:.1f} s, late worker {other.seconds:.1f} s, loopback {reference['result'].seconds:.1f} s, "
          f"the worker alone ended after {alone.seconds:.1f} s with {alone_code}")
    clash_code = clash.wait(60)
    holder.kill()
    holder.wait()
    assert clash_code == 1 and "Traceback" not in clash.log, clash.log
    assert clash.result["error"] == "RunError"  # --json: the error is the JSON on standard output
    assert f"worker 0 at {taken}: TensorFlow could not listen on port {PORT + 2}" in clash.result["problems"][0]["message"]
    assert alone_code == -signal.SIGKILL, (alone_code, alone.log)
    assert f"the cluster did not come together within 5 s (worker 0 at {pair.addresses[1]}:{PORT + 1}): no answer from {silent}" in alone.log
    assert "Traceback" not in alone.log
    left = json.loads((lonely / "run" / "manifest.json").read_text())
    assert left["status"] == "failed" and "did not come together" in left["error"]
    assert codes == [0, 0], (codes, chief.log, other.log)
    a, b = chief.result, other.result
    assert a["status"] == b["status"] == "completed" and a["run_dir"] == b["run_dir"] == str(run)
    assert a["metrics"] == b["metrics"]  # one model, every gradient all-reduced across the veth
    assert pair.bytes_through(0) - before > 20_000, "the workers did not talk through the veth"
    loop = reference["result"]
    assert loop.ok, [w.to_dict() for w in loop.workers]
    for split in ("train", "validation"):
        assert a["metrics"][split] == pytest.approx(loop.workers[0].result["metrics"][split], rel=1e-6)

    # The run folder: whole, written by the chief alone, nothing left by either worker.
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == 2
    assert manifest["pid"] == chief.proc.pid  # ip netns exec runs kerun in its own process
    assert _run_files(run) == ["curves.png", "history.csv", "history.json", "manifest.json", "metrics.json",
                               "model.keras", "packages.txt", "spec.yaml", "summary.txt"]
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2]
    assert list(chief.tmp.iterdir()) == [] and list(other.tmp.iterdir()) == []


def _rows(run: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((run / "history.json").read_text())
    except (OSError, json.JSONDecodeError):
        return []


@needs_namespaces
def test_a_killed_namespace_worker_and_all_restarted_resume_from_the_backup(pair: Pair, tmp_path: Path) -> None:
    epochs = 6
    spec = write(tmp_path, size=320, epochs=epochs)
    run = tmp_path / "shared" / "run"
    first, second = tmp_path / "attempt-1", tmp_path / "attempt-2"
    first.mkdir()
    second.mkdir()
    workers = [Worker(pair, i, spec, run, first) for i in range(2)]
    snapshot: list[dict[str, Any]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and all(w.proc.poll() is None for w in workers):
        snapshot = _rows(run)
        if len(snapshot) >= 2:
            os.kill(workers[1].proc.pid, signal.SIGKILL)  # worker 1, mid-training
            break
        time.sleep(0.05)
    assert 2 <= len(snapshot) < epochs, ("the worker was not killed mid-training", workers[0].log)
    killed_at = time.monotonic()
    codes = [w.wait(60) for w in workers]
    survivor_seconds = time.monotonic() - killed_at
    left = json.loads((run / "manifest.json").read_text())
    print(f"killed after {len(snapshot)} epochs; the chief ended {survivor_seconds:.1f} s later with {codes[0]}, "
          f"manifest {left['status']!r}: {left.get('error')!r}; backup: {sorted(p.name for p in (run / 'backup').iterdir())}")
    assert codes[1] == -signal.SIGKILL
    assert codes[0] not in (0, None), f"the chief neither failed nor stopped after its peer died:\n{workers[0].log}"
    # TensorFlow names the op that met the dead peer (a collective, or the optimizer's step after it)
    assert left["status"] == "failed" and "training failed" in left["error"]
    assert re.search(r"Unavailable|connection reset|socket closed|heartbeat", left["error"], re.I), left["error"]
    # A clear error in its JSON, not kerun's traceback (the log may hold Python's "Exception ignored in:
    # <function Pool.__del__>" at exit, a multiprocessing pool's pipe broken by the dead peer's end).
    assert "internal error" not in workers[0].log and workers[0].result["error"] == "RunError"
    # One whole backup; or, when the pacing let a second one be written before the kill (a slow
    # epoch on a loaded machine), that one and the one before it (Keras's double_checkpoint).
    # Nothing half-written either way.
    assert sorted(p.name for p in (run / "backup").iterdir()) in (
        ["latest.weights.h5", "training_metadata.json"],
        ["latest.weights.h5", "latest.weights.h5.bkp", "training_metadata.json", "training_metadata.json.bkp"])
    assert list(workers[0].tmp.iterdir()) == []  # the chief failed cleanly; the killed worker left TensorFlow's
    assert all(p.name.startswith("__autograph_generated_file") for p in workers[1].tmp.iterdir())  # autograph files

    restarted = [Worker(pair, i, spec, run, second) for i in range(2)]
    codes = [w.wait(150) for w in restarted]
    print(f"restart: {restarted[0].seconds:.1f} s")
    assert codes == [0, 0], (codes, restarted[0].log, restarted[1].log)
    a, b = restarted[0].result, restarted[1].result
    assert a["status"] == b["status"] == "completed" and a["metrics"] == b["metrics"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == epochs
    assert len(manifest["resumes"]) == 1
    final = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in final] == list(range(1, epochs + 1))
    kept = 0  # the backed-up epochs were not trained again: their rows are the ones written before the kill
    while kept < len(snapshot) and final[kept] == snapshot[kept]:
        kept += 1
    assert kept >= len(snapshot) - 1 >= 1, (snapshot, final)
    assert not (run / "backup").exists()
    assert all(list(w.tmp.iterdir()) == [] for w in restarted)
