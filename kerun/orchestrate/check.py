"""``kerun check``: prove that a folder of specs still validates, builds, trains, saves and loads.

Each spec is validated here, without TensorFlow; a valid spec then goes to a worker process of its
own (``python -m kerun.orchestrate.check_worker``) that builds it, reads a small slice of its data (or
generates data from the declared inputs with ``--synthetic``), trains a few steps, saves the model,
loads it back with ``safe_mode``, checks that the loaded model predicts what the trained one did,
and evaluates once. A process per spec gives each a time limit, lets ``--jobs`` run them in
parallel, and keeps one spec's plugins and Keras state away from the next.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from xml.etree import ElementTree as ET

from kerun.errors import Location, Problem, SpecError
from kerun.orchestrate.lifeline import child_env

__all__ = ["CheckOptions", "CheckResult", "STAGES", "check_specs", "exit_code", "junit_xml"]

STAGES = ("validate", "build", "data", "train", "save", "reload", "evaluate")


@dataclass
class CheckOptions:
    steps: int = 5
    timeout: float = 600.0
    jobs: int = 1
    synthetic: bool = False
    keep: Path | None = None
    overrides: tuple[str, ...] = ()


@dataclass
class CheckResult:
    spec: str
    result: str = "pending"  # pending | running | passed | failed | invalid
    stage: str = "validate"  # the last stage reached
    seconds: float = 0.0
    message: str | None = None
    problems: list[Problem] = field(default_factory=list)
    run_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "result": self.result,
            "stage": self.stage,
            "seconds": round(self.seconds, 2),
            "message": self.message,
            "problems": [p.to_dict() for p in self.problems],
            "run_dir": self.run_dir,
        }


def _run_worker(path: Path, options: CheckOptions, result: CheckResult, on_update: Callable[[], None]) -> None:
    t0 = time.perf_counter()
    result.result, result.stage = "running", "build"
    on_update()
    with tempfile.TemporaryDirectory(prefix="kerun-check-") as tmp:
        runs_dir = options.keep if options.keep is not None else Path(tmp) / "runs"
        report = Path(tmp) / "report.json"
        cmd = [
            sys.executable, "-m", "kerun.orchestrate.check_worker", str(path),
            "--runs-dir", str(runs_dir), "--steps", str(options.steps), "--report", str(report),
        ]
        if options.synthetic:
            cmd.append("--synthetic")
        for o in options.overrides:
            cmd += ["--set", o]
        env = child_env({**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"})
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
        output: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("KERUN_STAGE "):
                    result.stage = line.split()[1]
                    on_update()
                else:
                    output.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=options.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            reader.join(timeout=5)
            result.result = "failed"
            result.message = f"timed out after {options.timeout:g}s in stage {result.stage}"
            result.seconds = time.perf_counter() - t0
            on_update()
            return
        reader.join(timeout=5)
        if report.is_file():
            data = json.loads(report.read_text(encoding="utf-8"))
            result.result = data["result"]
            result.stage = data["stage"]
            result.message = data.get("message")
            result.run_dir = data.get("run_dir") if options.keep is not None else None
            result.problems = [Problem.from_dict(p) for p in data.get("problems", [])]
        else:
            tail = "".join(output[-20:]).strip()
            result.result = "failed"
            result.message = f"the check process died (exit code {proc.returncode}) in stage {result.stage}" + (f":\n{tail}" if tail else "")
    result.seconds = time.perf_counter() - t0
    on_update()


def check_specs(paths: list[Path], options: CheckOptions, on_update: Callable[[list[CheckResult]], None] = lambda r: None) -> list[CheckResult]:
    """Check every spec; stages stop at a spec's first failure while the others go on."""
    from kerun.spec import load_spec

    results = [CheckResult(spec=str(p)) for p in paths]
    lock = threading.Lock()

    def update() -> None:
        with lock:
            on_update(results)

    valid: list[tuple[Path, CheckResult]] = []
    for path, result in zip(paths, results):
        t0 = time.perf_counter()
        try:
            load_spec(path, options.overrides)
            valid.append((path, result))
        except SpecError as exc:
            result.result, result.stage = "invalid", "validate"
            result.problems = exc.problems
            result.message = exc.problems[0].message
        result.seconds = time.perf_counter() - t0
        update()
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        list(pool.map(lambda pr: _run_worker(pr[0], options, pr[1], update), valid))
    return results


def exit_code(results: list[CheckResult]) -> int:
    if any(r.result == "invalid" for r in results):
        return 2
    if any(r.result != "passed" for r in results):
        return 1
    return 0


def junit_xml(results: list[CheckResult]) -> str:
    failures = sum(r.result == "failed" for r in results)
    errors = sum(r.result == "invalid" for r in results)
    suite = ET.Element(
        "testsuite",
        name="kerun check",
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        time=f"{sum(r.seconds for r in results):.2f}",
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="kerun.check", name=r.spec, time=f"{r.seconds:.2f}")
        if r.result in ("failed", "invalid"):
            tag = "error" if r.result == "invalid" else "failure"
            body = "\n".join(p.render() for p in r.problems) or (r.message or "")
            el = ET.SubElement(case, tag, message=f"{r.stage}: {(r.message or '').splitlines()[0] if r.message else ''}", type=r.stage)
            el.text = body
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode") + "\n"


def github_annotations(results: list[CheckResult]) -> str:
    lines = []
    for r in results:
        if r.result == "passed":
            continue
        problems = r.problems or [Problem(message=f"{r.stage}: {r.message}", location=Location(r.spec, 1, 1))]
        for p in problems:
            if p.location is None or p.location.line is None:
                p = Problem(message=p.message, location=Location(r.spec, 1, 1), path=p.path, hint=p.hint)
            lines.append(p.render_github())
    return "\n".join(lines)
