"""``kerun check``: prove that a folder of specs still validates, builds, trains, saves and loads.

Each spec is validated here, without TensorFlow; a valid spec then goes to a warm worker
(:mod:`kerun.orchestrate.workers`: a process that imported TensorFlow once and checks spec after
spec, each in a fresh Keras state) that builds it, reads a small slice of its data (or generates
data from the declared inputs with ``--synthetic``), trains a few steps, saves the model, loads it
back with ``safe_mode``, checks that the loaded model predicts what the trained one did, and
evaluates once (:func:`kerun.orchestrate.check_worker.check_one`). Each spec has a time limit,
``--jobs`` runs that many workers in parallel, a worker that crashes, hangs or grows past its
memory bound is replaced and fails only its spec, and ``--isolate`` gives every spec a process of
its own. Ctrl-C stops the workers at once and exits 130.
"""

from __future__ import annotations

import datetime as _dt
import re
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from xml.etree import ElementTree as ET

from kerun.errors import Interrupted, Location, Problem, SpecError
from kerun.orchestrate.child import child_environment
from kerun.orchestrate.workers import JobOutcome, WorkerPool
from kerun.run.rundir import PICTURES_ENV

__all__ = ["CheckOptions", "CheckResult", "STAGES", "check_specs", "exit_code", "junit_xml", "worker_environment"]

STAGES = ("validate", "build", "data", "train", "save", "reload", "evaluate")


@dataclass
class CheckOptions:
    steps: int = 5
    timeout: float = 600.0
    jobs: int = 1
    synthetic: bool = False
    keep: Path | None = None
    overrides: tuple[str, ...] = ()
    isolate: bool = False  # a new process for every spec instead of warm workers
    memory_mb: float | None = 4096.0  # a worker above this during a spec is killed and the spec fails
    recycle_mb: float | None = 2048.0  # a worker above this after a spec is replaced


@dataclass
class CheckResult:
    spec: str
    result: str = "pending"  # pending | running | passed | failed | invalid
    stage: str = "validate"  # the last stage reached
    seconds: float = 0.0
    message: str | None = None
    problems: list[Problem] = field(default_factory=list)
    run_dir: str | None = None
    #: When this spec's check was queued (seconds since the epoch): its JUnit timestamp.
    started_at: float = field(default_factory=time.time)
    #: The last lines the spec's check printed (its training log): JUnit's system-out.
    log: list[str] = field(default_factory=list)

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


def _check_in_worker(pool: WorkerPool, path: Path, options: CheckOptions, result: CheckResult, on_update: Callable[[], None]) -> None:
    t0 = time.perf_counter()
    result.result, result.stage = "running", "build"
    on_update()

    def stage(name: str) -> None:
        result.stage = name
        on_update()

    with tempfile.TemporaryDirectory(prefix="kerun-check-") as tmp:
        runs_dir = options.keep if options.keep is not None else Path(tmp) / "runs"
        job = {"kind": "check", "spec": str(path), "runs_dir": str(runs_dir), "steps": options.steps,
               "synthetic": options.synthetic, "overrides": list(options.overrides)}
        outcome = pool.run(job, timeout=options.timeout, on_stage=stage)
        _record(result, outcome, options)
    result.seconds = time.perf_counter() - t0
    on_update()


def _record(result: CheckResult, outcome: JobOutcome, options: CheckOptions) -> None:
    result.log = list(outcome.tail)  # JUnit's system-out
    if outcome.status == "done" and outcome.result is not None:
        data = outcome.result
        result.result = data["result"]
        result.stage = data["stage"]
        result.message = data.get("message")
        result.run_dir = data.get("run_dir") if options.keep is not None else None
        result.problems = [Problem.from_dict(p) for p in data.get("problems", [])]
        return
    result.result = "failed"
    if outcome.status == "timeout":
        result.message = f"timed out after {options.timeout:g}s in stage {result.stage}"
    elif outcome.status == "memory":
        result.message = f"the check process used more than {options.memory_mb:g} MB in stage {result.stage}"
    elif outcome.status == "interrupted":
        result.message = f"interrupted in stage {result.stage}"
    else:
        tail = "".join(outcome.tail).strip()
        result.message = f"the check process died (exit code {outcome.exit_code}) in stage {result.stage}" + (f":\n{tail}" if tail else "")


def check_specs(paths: list[Path], options: CheckOptions, on_update: Callable[[list[CheckResult]], None] = lambda r: None) -> list[CheckResult]:
    """Check every spec; stages stop at a spec's first failure while the others go on."""
    results = [CheckResult(spec=str(p)) for p in paths]
    lock = threading.Lock()

    def update() -> None:
        with lock:
            on_update(results)

    jobs = max(1, min(options.jobs, len(paths)))
    with WorkerPool(jobs, isolate=options.isolate, memory_mb=options.memory_mb, recycle_mb=options.recycle_mb,
                    env=worker_environment(options)) as workers:
        workers.warm(jobs)  # TensorFlow is imported in the workers while the specs are validated here
        threads: ThreadPoolExecutor | None = None
        try:
            valid = _validate(paths, options, results, update)
            threads = ThreadPoolExecutor(max_workers=jobs)
            futures = [threads.submit(_check_in_worker, workers, path, options, result, update) for path, result in valid]
            wait(futures)
        except KeyboardInterrupt:
            done = sum(r.result in ("passed", "failed", "invalid") for r in results)
            workers.interrupt()
            if threads is not None:
                threads.shutdown(wait=True, cancel_futures=True)
            raise Interrupted(f"kerun check interrupted: {done} of {len(results)} specs checked",
                              hint="nothing is left running; run it again to check every spec") from None
        threads.shutdown(wait=True)
        for f in futures:
            f.result()  # a bug in the parent keeps its traceback
    return results


def worker_environment(options: CheckOptions) -> dict[str, str]:
    """The workers' environment: without ``--keep`` every run folder is deleted when its spec is
    checked, so no picture is drawn in it (``PICTURES_ENV``); with ``--keep`` the folders are whole."""
    extra = {"PYTHONUNBUFFERED": "1"}
    if options.keep is None:
        extra[PICTURES_ENV] = "0"
    return child_environment(**extra)


def _validate(paths: list[Path], options: CheckOptions, results: list[CheckResult], update: Callable[[], None]) -> list[tuple[Path, CheckResult]]:
    """Validate every spec here, without TensorFlow; the valid ones, with their results."""
    from kerun.spec import load_spec

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
    return valid


def exit_code(results: list[CheckResult]) -> int:
    if any(r.result == "invalid" for r in results):
        return 2
    if any(r.result != "passed" for r in results):
        return 1
    return 0


_LOG_LINES = 60  # of a spec's output in its JUnit system-out
_NOT_XML = re.compile("\x1b\\[[0-9;]*m|[^\t\n\r\x20-\ud7ff\ue000-\ufffd]")  # colour codes, then what XML 1.0 cannot hold


def _visible(location: Location | None) -> bool:
    """Whether a location names a file that is still there for a reader of the report (not the
    temporary run folder of a check, deleted when the check ends)."""
    if location is None or location.line is None:
        return False
    file = Path(location.file)
    return "kerun-check-" not in file.as_posix() and file.is_file()


def _at_spec(result: CheckResult, problem: Problem) -> Problem:
    """``problem`` pointing at a line of the checked spec: where it was, when that file is still
    there; else at its dotted path in the spec, or the spec's first line."""
    if _visible(problem.location):
        return problem
    location = Location(result.spec, 1, 1)
    if problem.path:
        from kerun.spec.loader import load_document

        try:
            found = load_document(result.spec).locate(problem.path)
            location = Location(result.spec, found.line or 1, found.column or 1)
        except SpecError:
            pass
    return Problem(message=problem.message, location=location, path=problem.path, hint=problem.hint)


def _problems(result: CheckResult) -> list[Problem]:
    problems = result.problems or [Problem(message=f"{result.stage}: {result.message}", location=Location(result.spec, 1, 1))]
    return [_at_spec(result, p) for p in problems]


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def junit_xml(results: list[CheckResult], *, hostname: str | None = None) -> str:
    """JUnit XML in the shape of Jenkins's schema: ``<testsuites>`` with a ``<testsuite>`` per spec
    (``timestamp``, ``hostname``; the spec's ``file`` and ``line`` as properties, the line of its
    first problem when it failed; the tail of its output as ``system-out``) holding one testcase."""
    host = hostname or socket.gethostname()
    failures = sum(r.result == "failed" for r in results)
    errors = sum(r.result == "invalid" for r in results)
    root = ET.Element("testsuites", name="kerun check", tests=str(len(results)), failures=str(failures),
                      errors=str(errors), time=f"{sum(r.seconds for r in results):.2f}")
    for r in results:
        stamp = _dt.datetime.fromtimestamp(r.started_at, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        failed = r.result in ("failed", "invalid")
        suite = ET.SubElement(root, "testsuite", name=r.spec, tests="1", failures=str(int(r.result == "failed")),
                              errors=str(int(r.result == "invalid")), skipped="0", time=f"{r.seconds:.2f}",
                              timestamp=stamp, hostname=host)
        where = _problems(r)[0].location if failed else Location(r.spec, 1, 1)
        assert where is not None
        properties = ET.SubElement(suite, "properties")
        for name, value in (("file", where.file), ("line", str(where.line or 1)), ("stage", r.stage)):
            ET.SubElement(properties, "property", name=name, value=_xml_text(value))
        case = ET.SubElement(suite, "testcase", classname="kerun.check", name=r.spec, time=f"{r.seconds:.2f}")
        if failed:
            tag = "error" if r.result == "invalid" else "failure"
            body = "\n".join(p.render() for p in _problems(r)) if r.problems else (r.message or "")
            first = (r.message or "").splitlines()[0] if r.message else ""
            el = ET.SubElement(case, tag, message=_xml_text(f"{r.stage}: {first}"), type=r.stage)
            el.text = _xml_text(body)
        ET.SubElement(suite, "system-out").text = _xml_text("".join(line if line.endswith("\n") else line + "\n"
                                                                    for line in r.log[-_LOG_LINES:]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def github_annotations(results: list[CheckResult]) -> str:
    """``::error file=...,line=...`` workflow commands, one per problem, each at a line of a file
    that exists after the check (see :func:`_at_spec`), escaped as @actions/core escapes them."""
    return "\n".join(p.render_github() for r in results if r.result != "passed" for p in _problems(r))
