"""``kerun sweep --storage URL``: one sweep shared by several processes through a real PostgreSQL.

One throw-away PostgreSQL cluster for the module (``initdb`` in a temporary folder, a free port,
listening on 127.0.0.1 only, password authentication; stopped at teardown). ``initdb`` refuses
root, so as root the cluster belongs to the ``postgres`` user (or ``nobody``). Skipped with the
reason where PostgreSQL or psycopg is absent.

The sweeps are tiny: iris, one epoch, four trials, every trial reseeded from (seed, trial number),
so the same trials come out of one process on SQLite, one on PostgreSQL and two at once.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kerun_testing import SPECS
from kerun.cli import app

pytest.importorskip("psycopg", reason="the PostgreSQL driver is the kerun[postgres] extra: pip install 'kerun[postgres]'")

SPEC = SPECS / "iris_sweep.yaml"
TRIALS = 4
SETS = ["--set", "train.epochs=1", "--set", f"sweep.trials={TRIALS}"]
PASSWORD = "s3cret-pw"
runner = CliRunner()


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg() -> Any:
    """The URL of a fresh PostgreSQL server (its own cluster), and a function making databases in it."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (Debian: apt-get install postgresql)")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="kerun-pg-"))
    if os.geteuid() == 0:  # initdb refuses root: the cluster is another user's
        import pwd

        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if user is None or not shutil.which("runuser"):
            pytest.skip("running as root without a postgres or nobody user (or runuser) to own the cluster")
        os.chown(base, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        as_user = ["runuser", "-u", user, "--"]
    data, pwfile = base / "data", base / "pw"
    _run_as(as_user, ["sh", "-c", f"printf '%s' '{PASSWORD}' > {pwfile}"])
    _run_as(as_user, [initdb, "-D", str(data), "-U", "kerun", "--pwfile", str(pwfile), "--auth", "scram-sha-256",
                      "-E", "UTF8", "--no-sync"])
    port = _free_port()
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=60"
    _run_as(as_user, [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-o", opts, "-w", "-t", "60", "start"])
    try:
        yield f"postgresql://kerun:{PASSWORD}@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _run_as(prefix: list[str], cmd: list[str]) -> None:
    done = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{cmd[0]} failed: {done.stdout}\n{done.stderr}"


def _database(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{url}/{name}"


def _sweep(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kerun", "sweep", str(SPEC), *SETS, "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _table(study: Any) -> list[tuple[int, str, float | None, tuple]]:
    """(number, state, value, params) of the trials the reports show (not interrupted, not surplus)."""
    return [(t.number, t.state.name, t.value, tuple(sorted(t.params.items())))
            for t in study.get_trials() if not t.user_attrs.get("interrupted")]


def _load(url: str, name: str = "iris-sweep") -> Any:
    import optuna

    return optuna.load_study(study_name=name, storage=url)


@pytest.fixture(scope="module")
def singles(pg: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same sweep by one process on the embedded SQLite study and by one on PostgreSQL, both
    started at once (two cores)."""
    import optuna

    url = _database(pg, "single")
    runs = tmp_path_factory.mktemp("singles")
    t0 = time.monotonic()
    procs = {"sqlite": _sweep("--runs-dir", str(runs / "sqlite")),
             "postgres": _sweep("--runs-dir", str(runs / "postgres"), "--storage", url)}
    outs = {k: p.communicate(timeout=300) for k, p in procs.items()}
    seconds = time.monotonic() - t0
    for k, p in procs.items():
        assert p.returncode == 0, outs[k]
    res = {k: json.loads(out) for k, (out, _) in outs.items()}
    embedded = optuna.load_study(study_name="sweep", storage=f"sqlite:///{res['sqlite']['sweep_dir']}/study.db")
    print(f"one process each, {TRIALS} trials, SQLite and PostgreSQL side by side: {seconds:.1f}s")
    return {"url": url, "runs": runs, "out": res, "table": _table(embedded), "pg_table": _table(_load(url))}


def test_one_process_on_postgresql_gives_the_sqlite_trial_table(singles: dict) -> None:
    out = singles["out"]["postgres"]
    assert out["ran"] == TRIALS
    assert Path(out["sweep_dir"]) == (singles["runs"] / "postgres").resolve() / "iris-sweep" / "sweep-iris-sweep"
    assert [row[:2] for row in singles["pg_table"]] == [(n, "COMPLETE") for n in range(TRIALS)]
    assert singles["pg_table"] == singles["table"]  # same numbers, values tried and objective values
    assert out["best"] == {**singles["out"]["sqlite"]["best"], "run_dir": out["best"]["run_dir"]}


def test_two_processes_share_one_study_and_its_budget(pg: str, singles: dict, tmp_path: Path) -> None:
    url = _database(pg, "pair")
    t0 = time.monotonic()
    procs = [_sweep("--runs-dir", str(tmp_path / f"machine{i}"), "--storage", url) for i in (1, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    seconds = time.monotonic() - t0
    for p, (stdout, stderr) in zip(procs, outs):
        assert p.returncode == 0, stderr
    results = [json.loads(stdout) for stdout, _ in outs]
    study = _load(url)
    # every trial ran exactly once, sweep.trials in all, shared between the two processes
    assert len(study.trials) == TRIALS
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * TRIALS
    assert sum(r["ran"] for r in results) == TRIALS and all(r["ran"] > 0 for r in results)
    by_pid = {t.user_attrs["pid"] for t in study.trials}
    assert by_pid == {p.pid for p in procs}
    for t in study.trials:  # recorded where it ran: that machine's folder holds it, complete
        run = Path(t.user_attrs["run_dir"])
        assert t.user_attrs["host"] == socket.gethostname()
        assert json.loads((run / "manifest.json").read_text())["status"] == "completed"
        machine = run.parents[3].name
        other = tmp_path / ("machine2" if machine == "machine1" else "machine1")
        assert not (other / "iris-sweep" / "sweep-iris-sweep" / "trials" / run.name).exists()
    # the same trials as one process on SQLite, so the same best
    assert _table(study) == singles["table"]
    for r in results:  # each process reports the whole study
        assert len(r["trials"]) == TRIALS and r["best"]["trial"] == singles["out"]["sqlite"]["best"]["trial"]
    best_value = max(t.value for t in study.trials)
    assert results[0]["best"]["value"] == best_value
    print(f"two processes, {TRIALS} trials on PostgreSQL: {seconds:.1f}s; ran {[r['ran'] for r in results]}")

    # --report from a third machine: the same best.yaml and trials.csv, no trial run
    third = tmp_path / "machine3"
    rep = runner.invoke(app, ["sweep", str(SPEC), *SETS, "--runs-dir", str(third), "--storage", url, "--report", "--json"])
    assert rep.exit_code == 0, rep.output
    assert json.loads(rep.stdout)["ran"] == 0 and len(study.get_trials()) == TRIALS
    ours = third / "iris-sweep" / "sweep-iris-sweep"
    theirs = Path(results[0]["sweep_dir"])
    assert (ours / "trials.csv").read_text() == (theirs / "trials.csv").read_text()
    # best.yaml names its own folder in its "train it with" line; the rest is the same
    assert (ours / "best.yaml").read_text().replace(str(ours), "F") == (theirs / "best.yaml").read_text().replace(str(theirs), "F")
    assert (ours / "objective.png").read_bytes()[:4] == b"\x89PNG"
    assert not (ours / "trials").exists()


def test_a_process_killed_mid_trial_leaves_its_trial_to_the_other(pg: str, tmp_path: Path) -> None:
    import optuna
    import sqlalchemy.exc

    url = _database(pg, "killed")
    victim = _sweep("--runs-dir", str(tmp_path / "victim"), "--storage", url, "--heartbeat", "1")
    survivor = _sweep("--runs-dir", str(tmp_path / "survivor"), "--storage", url, "--heartbeat", "1")
    deadline = time.monotonic() + 120
    study = None
    while time.monotonic() < deadline:  # wait for the victim to be training a trial, then kill it
        try:
            study = study or _load(url)
            running = [t for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
                       if t.user_attrs.get("pid") == victim.pid and "run_dir" in t.user_attrs
                       and Path(t.user_attrs["run_dir"], "spec.yaml").exists()]
        except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # the study (or its tables) not made yet
            running = []
        if running:
            break
        assert victim.poll() is None, victim.communicate()[1]
        time.sleep(0.2)
    assert running, "the victim never started a trial"
    killed = running[0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    stdout, stderr = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, stderr
    result = json.loads(stdout)

    trials = _load(url).get_trials()
    dead = next(t for t in trials if t.number == killed.number)
    assert dead.state.name == "FAIL" and dead.user_attrs["interrupted"] is True  # failed by its heartbeat, hidden
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE" and retry[0].params == dead.params
    assert retry[0].user_attrs["pid"] == survivor.pid
    shown = [t for t in trials if not t.user_attrs.get("interrupted")]
    assert len(shown) == TRIALS and all(t.state.name == "COMPLETE" for t in shown)
    assert [r["trial"] for r in result["trials"]] == [t.number for t in shown]
    with open(Path(result["sweep_dir"]) / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == TRIALS and killed.number not in {int(r["trial"]) for r in rows}
    # the killed trial's folder stays where it was, never reused: the retry has a folder of its own
    assert Path(dead.user_attrs["run_dir"]).is_dir() and Path(retry[0].user_attrs["run_dir"]) != Path(dead.user_attrs["run_dir"])
    status = json.loads((Path(dead.user_attrs["run_dir"]) / "manifest.json").read_text()).get("status") \
        if (Path(dead.user_attrs["run_dir"]) / "manifest.json").exists() else None
    print(f"killed trial {killed.number}: FAIL (interrupted), retried as {retry[0].number}; its run folder: status {status}; "
          f"states {[(t.number, t.state.name) for t in trials]}")


def test_a_bad_or_unreachable_storage_is_a_clear_error(pg: str, tmp_path: Path) -> None:
    port = _free_port()
    res = runner.invoke(app, ["sweep", str(SPEC), *SETS, "--runs-dir", str(tmp_path),
                              "--storage", f"postgresql://kerun:{PASSWORD}@127.0.0.1:{port}/x"])
    assert res.exit_code == 1
    assert "cannot open the sweep storage postgresql://kerun:***@127.0.0.1" in res.output
    assert PASSWORD not in res.output and "Traceback" not in res.output
    wrong = pg.replace(PASSWORD, "not-the-password")
    res = runner.invoke(app, ["sweep", str(SPEC), *SETS, "--runs-dir", str(tmp_path), "--storage", f"{wrong}/postgres"])
    assert res.exit_code == 1 and "password authentication failed" in res.output and "not-the-password" not in res.output
    res = runner.invoke(app, ["sweep", str(SPEC), *SETS, "--runs-dir", str(tmp_path), "--storage", "no-such-thing"])
    assert res.exit_code == 1 and "is not a database URL" in res.output
    assert not (tmp_path / "iris-sweep").exists()  # nothing left behind


def test_a_study_of_other_values_is_refused_and_new_starts_the_next(pg: str, tmp_path: Path) -> None:
    from kerun.orchestrate.storage import open_storage, study_name

    url = _database(pg, "other")
    res = runner.invoke(app, ["sweep", str(SPEC), *SETS, "--runs-dir", str(tmp_path), "--storage", url, "--report"])
    assert res.exit_code == 1 and "holds no study 'iris-sweep'" in res.output
    import optuna

    study = optuna.create_study(storage=url, study_name="iris-sweep", direction="maximize")
    study.set_user_attr("kerun_fingerprint", "of another spec")
    res = runner.invoke(app, ["sweep", str(SPEC), *SETS, "--runs-dir", str(tmp_path), "--storage", url])
    assert res.exit_code == 1 and "is a sweep of other values" in res.output and "--new" in res.output
    assert not (tmp_path / "iris-sweep").exists()
    storage = open_storage(url)
    assert study_name(storage, "iris-sweep", new=False) == "iris-sweep"
    assert study_name(storage, "iris-sweep", new=True) == "iris-sweep.2"
    optuna.create_study(storage=url, study_name="iris-sweep.2")
    assert study_name(storage, "iris-sweep", new=False) == "iris-sweep.2"
    assert study_name(storage, "iris-sweep", new=True) == "iris-sweep.3"
