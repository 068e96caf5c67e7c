"""What a warm check worker no longer repeats for every spec (issue 18): pictures in run folders
that are deleted at once, and the scan of the installed distributions. No TensorFlow here: the
worker pool is replaced by one that records how it was made; the speed itself is measured by
``benchmarks/workers.py``, never here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from kerun.orchestrate import check
from kerun.orchestrate.workers import JobOutcome
from kerun.run import provenance
from kerun.run.rundir import PICTURES_ENV, RunDir
from kerun_testing import small_spec

PASSED = {"result": "passed", "stage": "evaluate", "message": None, "problems": [], "run_dir": None}


class RecordingPool:
    """A WorkerPool that runs nothing: it keeps the environment its workers would get."""

    made: list[dict[str, Any]] = []

    def __init__(self, size: int, **kwargs: Any) -> None:
        RecordingPool.made.append(kwargs)

    def __enter__(self) -> "RecordingPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def warm(self, count: int) -> None:
        pass

    def run(self, job: dict[str, Any], **kwargs: Any) -> JobOutcome:
        return JobOutcome(status="done", result=dict(PASSED))


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> type[RecordingPool]:
    RecordingPool.made = []
    monkeypatch.setattr(check, "WorkerPool", RecordingPool)
    return RecordingPool


def _worker_env(pool: type[RecordingPool], spec: Path, **options: Any) -> dict[str, str]:
    results = check.check_specs([spec], check.CheckOptions(**options))
    assert [r.result for r in results] == ["passed"]
    env = pool.made[-1].get("env")
    assert env is not None, "the check gives its workers no environment of its own"
    return env


def test_no_pictures_in_run_folders_the_check_deletes(tmp_path: Path, pool: type[RecordingPool]) -> None:
    env = _worker_env(pool, small_spec(tmp_path))
    assert env[PICTURES_ENV] == "0"
    assert env["PYTHONUNBUFFERED"] == "1"  # what the pool's default environment had


def test_kept_run_folders_have_their_pictures(tmp_path: Path, pool: type[RecordingPool]) -> None:
    env = _worker_env(pool, small_spec(tmp_path), keep=tmp_path / "runs")
    assert PICTURES_ENV not in env


def test_write_with_draws_nothing_when_pictures_are_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunDir.create(tmp_path, "r")
    drawn: list[Path] = []

    def draw(path: Path) -> None:
        drawn.append(path)
        path.write_bytes(b"png")

    run.write_with("curves.png", draw)
    assert (run.path / "curves.png").read_bytes() == b"png"
    monkeypatch.setenv(PICTURES_ENV, "0")
    run.write_with("confusion-test.png", draw)
    assert len(drawn) == 1 and not (run.path / "confusion-test.png").exists()


def test_installed_packages_are_read_once_per_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = provenance.metadata.distributions

    def counted() -> Any:
        calls.append(1)
        return real()

    monkeypatch.setattr(provenance.metadata, "distributions", counted)
    monkeypatch.setattr(provenance, "_PACKAGES_READ", {}, raising=False)
    first = provenance.installed_packages()
    assert "pydantic==" in first.lower()
    assert provenance.installed_packages() == first
    assert len(calls) == 1
    monkeypatch.setattr(sys, "path", [*sys.path, "/nonexistent-kerun-test"])
    assert provenance.installed_packages() == first  # read again: sys.path changed, the same packages
    assert len(calls) == 2
