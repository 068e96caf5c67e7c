"""``kerun sweep SPEC``: a hyper-parameter search over the spec's ``sweep.space``, on Optuna.

The engine is an Optuna study in SQLite in the sweep's own folder (``study.db``), so a sweep that
was interrupted (Ctrl-C, a killed process, a reboot) continues where it stopped, and a finished
sweep asked again runs nothing. Samplers: ``grid`` -> ``GridSampler``, ``random`` ->
``RandomSampler``, ``bayesian`` -> ``TPESampler``, all seeded from the spec's ``seed``; the
sampler is re-seeded for each trial with ``(seed, trial number)``, so a resumed sweep proposes the
same values an uninterrupted one would have (with ``--jobs 1``).

Before the first trial, variants of the spec are checked against the schema, without TensorFlow
(:mod:`kerun.spec.space`); the first invalid one stops the sweep with its error placed at the space
entry's file, line and column.

Each trial is an ordinary ``kerun train SPEC --set PATH=VALUE ... --json`` subprocess (TensorFlow
state never leaks from one trial to the next; ``--jobs N`` runs N at once) whose run folder is
``<sweep>/trials/trial-<number>/``. After every trial the sweep rewrites ``trials.csv``,
``trials.json``, ``objective.png`` and ``best.yaml`` (:mod:`kerun.orchestrate.sweep_report`).

The objective is the metric of the trained model at the end of the trial, as ``kerun train``
reports it: ``val_<m>`` from the validation split, ``test_<m>`` from the test split, ``<m>`` from
the training split.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import secrets
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from kerun.errors import Interrupted, Location, RunError, SpecError
from kerun.orchestrate.pruning import Reporter, check_pruner, make_pruner, report_metric
from kerun.orchestrate.sweep_report import write_reports
from kerun.orchestrate.workers import WorkerPool
from kerun.run.rundir import SPEC_FILE, atomic_write
from kerun.spec import LoadedSpec, load_spec
from kerun.spec.space import Param, check_variants, overrides_for, parse_space

__all__ = ["SweepOptions", "SweepResult", "resume_sweep", "sweep", "sweep_file"]

DEFAULT_TRIALS = 10
STUDY = "study.db"
MANIFEST = "sweep.json"


# ---------------------------------------------------------------------------------------------
# The sweep folder


@dataclass
class SweepOptions:
    runs_dir: Path = Path("runs")
    jobs: int = 1
    new: bool = False  # start a new sweep even if one of the same spec exists
    isolate: bool = False  # a new process for every trial instead of warm workers
    recycle_mb: float | None = 2048.0  # a worker above this after a trial is replaced
    on_event: Callable[[str], None] | None = None
    storage: str | None = None  # a shared study in this database (SQLAlchemy URL), not SQLite in the folder
    study: str | None = None  # the shared study's name (default: the spec's name)
    heartbeat: int = 10  # seconds between a shared trial's heartbeats; silent for 3, it is run again


@dataclass
class SweepResult:
    folder: Path
    status: str
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    ran: int  # trials run by this call
    checked: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"sweep_dir": str(self.folder), "status": self.status, "ran": self.ran, "checked_variants": self.checked,
                "best": self.best, "trials": self.trials}


def _fingerprint(loaded: LoadedSpec) -> str:
    return hashlib.sha256(f"{loaded.path.resolve()}\n{loaded.to_yaml()}".encode()).hexdigest()


def find_sweep(loaded: LoadedSpec, runs_dir: Path) -> Path | None:
    """The latest sweep folder of exactly this spec (same file, same values after overrides)."""
    parent = runs_dir / loaded.name
    fp = _fingerprint(loaded)
    for folder in sorted(parent.glob("sweep-*"), reverse=True):
        try:
            if json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("fingerprint") == fp:
                return folder
        except (OSError, json.JSONDecodeError):
            continue
    return None


def sweep_file(path: str | Path, overrides: Sequence[str] = (), options: SweepOptions | None = None) -> SweepResult:
    return sweep(load_spec(path, overrides), options or SweepOptions())


def sweep(loaded: LoadedSpec, options: SweepOptions | None = None) -> SweepResult:
    """Check every variant, then run (or continue) the sweep of ``loaded``."""
    options = options or SweepOptions()
    params = parse_space(loaded)
    check_pruner(loaded)
    checked = check_variants(loaded, params, loaded.spec.sweep.method)  # type: ignore[union-attr]
    folder = None if options.new or options.storage else find_sweep(loaded, options.runs_dir)
    if options.storage:  # a study shared through a database: one folder per study (kerun.orchestrate.storage)
        from kerun.orchestrate.storage import shared_folder

        folder = shared_folder(loaded, options)
    elif folder is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        folder = (options.runs_dir / loaded.name).resolve() / f"sweep-{stamp}-{secrets.token_hex(3)}"
        folder.mkdir(parents=True)
        atomic_write(folder / SPEC_FILE, loaded.to_yaml())
        _write_manifest(folder, {
            "kind": "sweep", "name": loaded.name, "status": "created", "spec_path": str(loaded.path.resolve()),
            "root": str(loaded.base_dir.resolve()), "overrides": list(loaded.overrides), "fingerprint": _fingerprint(loaded),
            "method": loaded.spec.sweep.method, "created_at": _now(),  # type: ignore[union-attr]
        })
    else:
        _say(options, f"continuing the sweep in {folder}")
    return _run(folder, loaded, params, options, checked)


def resume_sweep(folder: Path, options: SweepOptions | None = None) -> SweepResult:
    """Continue the sweep in ``folder`` with the spec it was started with."""
    options = options or SweepOptions()
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise RunError(f"{folder} is not a kerun sweep folder (no readable {MANIFEST})", location=Location(str(folder))) from None
    loaded = load_spec(Path(manifest["spec_path"]), manifest.get("overrides", []))
    if manifest.get("study"):  # a shared study: its database again (the password is not kept in the folder)
        from kerun.orchestrate.storage import fingerprint as shared_fingerprint

        if options.storage is None:
            raise RunError(f"the sweep in {folder} is the study {manifest['study']!r} in {manifest['storage']}",
                           hint=f"give its database again: kerun sweep --resume {folder} --storage URL")
        options = SweepOptions(**{**vars(options), "study": manifest["study"], "new": False})
    if (shared_fingerprint(loaded) if manifest.get("study") else _fingerprint(loaded)) != manifest.get("fingerprint"):
        raise RunError(
            f"{manifest['spec_path']} changed since the sweep in {folder} started; its trials would not be comparable",
            hint=f"start a new sweep: kerun sweep {manifest['spec_path']} (the old one stays in {folder})",
        )
    params = parse_space(loaded)
    check_pruner(loaded)
    checked = check_variants(loaded, params, loaded.spec.sweep.method)  # type: ignore[union-attr]
    return _run(folder.resolve(), loaded, params, options, checked)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _say(options: SweepOptions, message: str) -> None:
    if options.on_event is not None:
        options.on_event(message)


def _write_manifest(folder: Path, data: dict[str, Any]) -> None:
    atomic_write(folder / MANIFEST, json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Running trials


def _distribution(p: Param) -> Any:
    import optuna.distributions as d

    if p.kind == "choice":
        return d.CategoricalDistribution([p.encode(c) for c in p.choices])
    if p.kind == "int":
        return d.IntDistribution(int(p.low), int(p.high))
    return d.FloatDistribution(p.low, p.high, log=p.kind == "log_uniform")


def _sampler(method: str, seed: int, number: int, params: list[Param], target: int) -> Any:
    import optuna

    s = (seed * 1_000_003 + number) % (2**32)
    if method == "grid":

        class Grid(optuna.samplers.GridSampler):
            """Optuna's grid, without the ``study.stop()`` its ``after_trial`` calls once the last
            point is told: outside ``study.optimize`` that raises (optuna/optuna#4121), and the
            sweep counts its trials itself (``target`` is the grid's size at most)."""

            def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
                return None

        # One seed for every trial: the grid's order is shuffled by it, and trial n takes point n.
        return Grid({p.key: [p.encode(v) for v in p.grid()] for p in params}, seed=seed % (2**32))
    if method == "random":
        return optuna.samplers.RandomSampler(seed=s)
    # A third of the budget (2 to 10 trials) explores at random before TPE models the results.
    return optuna.samplers.TPESampler(seed=s, n_startup_trials=min(10, max(2, target // 3)))


def _run_trial(pool: WorkerPool, loaded: LoadedSpec, folder: Path, number: int, values: dict[str, Any],
               reporter: Reporter | None = None) -> dict[str, Any]:
    """One trial, ``kerun train SPEC --set ... --json`` in the trial's run folder, run by a warm
    worker; its result, or the error it reported. With a ``reporter`` (a pruned sweep) the trial
    reports each epoch's objective and stops when told (kerun.orchestrate.pruning)."""
    run_dir = folder / "trials" / f"trial-{number:04d}"
    log = folder / "trials" / f"trial-{number:04d}.log"
    job = {"kind": "train", "spec": str(loaded.path.resolve()), "overrides": [*loaded.overrides, *overrides_for(values)],
           "run_dir": str(run_dir)}
    if reporter is not None:
        job["report"] = report_metric(loaded)
    t0 = time.monotonic()
    ran = pool.run(job, timeout=math.inf, log=log, on_report=reporter)
    answer = ran.result or {}
    exit_code = answer.get("exit_code", ran.exit_code)
    result = answer.get("output") or {}
    outcome: dict[str, Any] = {"run_dir": str(run_dir), "seconds": round(time.monotonic() - t0, 2), "exit_code": exit_code}
    if ran.status == "interrupted":
        outcome["interrupted"] = True
    if exit_code == 0 and result.get("status") in ("completed", "pruned"):
        outcome["metrics"] = result.get("metrics", {})
        if result.get("status") == "pruned":  # the epoch it stopped at (its verdict: the epoch before's)
            outcome["pruned_at_epoch"] = result.get("epochs")
    elif result.get("problems"):
        outcome["error"] = "\n".join(
            (f"{p['file']}:{p['line']}:{p['column']}: " if p.get("line") else "") + p.get("message", "") for p in result["problems"])
    else:
        tail = [ln for ln in "".join(ran.tail).splitlines() if ln.strip()]
        outcome["error"] = f"exit code {exit_code}" + (f": {tail[-1]}" if tail else "")
    return outcome


def _objective(metrics: dict[str, dict[str, float]], name: str) -> float | None:
    for prefix, split in (("val_", "validation"), ("test_", "test")):
        if name.startswith(prefix) and name[len(prefix):] in metrics.get(split, {}):
            return float(metrics[split][name[len(prefix):]])
    value = metrics.get("train", {}).get(name)
    return None if value is None else float(value)


def _interrupted(study: Any, trial_id: int, number: int, params: dict[str, Any]) -> None:
    """Close a trial that did not end as interrupted (hidden from the reports), and ask its values again."""
    from optuna.trial import TrialState

    study._storage.set_trial_user_attr(trial_id, "interrupted", True)
    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(dict(params), skip_if_exists=False)


def _run(folder: Path, loaded: LoadedSpec, params: list[Param], options: SweepOptions, checked: int) -> SweepResult:
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweep_spec = loaded.spec.sweep
    assert sweep_spec is not None
    method = sweep_spec.method
    seed = loaded.spec.seed or 0
    if method == "grid":
        size = 1
        for p in params:
            size *= len(p.grid())
        target = min(sweep_spec.trials or size, size)
    else:
        target = sweep_spec.trials or DEFAULT_TRIALS
    direction = "maximize" if sweep_spec.objective.direction == "max" else "minimize"
    shared = None
    if options.storage:  # this process's part in a study shared through a database
        from kerun.orchestrate.storage import join as join_shared

        shared = join_shared(folder, options, loaded, direction)
    study = optuna.create_study(storage=shared.storage if shared else f"sqlite:///{folder / STUDY}",
                                study_name=shared.name if shared else "sweep", direction=direction,
                                load_if_exists=True, sampler=_sampler(method, seed, 0, params, target),
                                pruner=make_pruner(loaded, target))
    pruning = threading.Lock() if report_metric(loaded) else None  # the trials' threads report into one study
    distributions = {p.key: _distribution(p) for p in params}
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))

    # Trials a killed sweep left running are closed as interrupted and asked again, same values.
    # (In a shared study they may be another process's: its heartbeats tell, see kerun.orchestrate.storage.)
    for t in [] if shared else study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        _interrupted(study, t._trial_id, t.number, t.params)
        _say(options, f"trial {t.number} was interrupted; its values will run again")

    def counted() -> int:
        if shared:  # the study's budget, whichever process runs its trials
            return shared.counted(study)
        return sum(1 for t in study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED) and not t.user_attrs.get("interrupted"))

    done = counted()
    ran = 0
    manifest.update({"status": "running", "trials": target, "objective": sweep_spec.objective.model_dump(),
                     "pid": os.getpid(), "checked_variants": checked})
    _write_manifest(folder, manifest)
    if done >= target:
        _say(options, f"all {target} trials are done already; nothing to run")
    pending: dict[Future[dict[str, Any]], Any] = {}
    jobs = max(1, options.jobs)
    from kerun.orchestrate.sweep_tracking import close_tracking, open_tracking

    tracker, env = open_tracking(loaded, folder, options.runs_dir, manifest, lambda: _write_manifest(folder, manifest))
    workers = WorkerPool(jobs, isolate=options.isolate, recycle_mb=options.recycle_mb, env=env)
    threads = ThreadPoolExecutor(max_workers=jobs)
    try:
        if done < target:
            workers.warm(min(jobs, target - done))
        while True:
            while len(pending) < max(1, options.jobs) and (shared.room(study, target) if shared else done + len(pending) < target):
                number = len(study.trials)
                study.sampler = (shared.sampler(lambda n: _sampler(method, seed, n, params, target)) if shared
                                 else _sampler(method, seed, number, params, target))
                trial = study.ask(distributions)
                if shared and not shared.claim(study, trial, target, folder):
                    break  # another process asked for the study's last trial at the same moment
                values = {p.key: p.decode(trial.params[p.key]) for p in params}
                _say(options, f"trial {trial.number}: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items()))
                reporter = Reporter(trial, pruning) if pruning is not None else None
                pending[threads.submit(_run_trial, workers, loaded, folder, trial.number, values, reporter)] = trial
            if not pending and not (shared and shared.wait(study)):
                break
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                trial = pending.pop(fut)
                outcome = fut.result()
                for k in ("run_dir", "seconds", "error", "pruned_at_epoch"):
                    if k in outcome:
                        trial.set_user_attr(k, outcome[k])
                if "pruned_at_epoch" in outcome:  # stopped early by the pruner: neither a result nor a failure
                    study.tell(trial, state=TrialState.PRUNED)
                    _say(options, f"trial {trial.number}: pruned after epoch {outcome['pruned_at_epoch']} ({outcome['seconds']:.1f}s)")
                    done += 1
                    ran += 1
                    write_reports(folder, study, params, loaded)
                    continue
                value = _objective(outcome.get("metrics", {}), sweep_spec.objective.metric) if "metrics" in outcome else None
                if "metrics" in outcome and value is None:
                    names = [("val_" if s == "validation" else "test_" if s == "test" else "") + m
                             for s, ms in outcome["metrics"].items() for m in ms]
                    trial.set_user_attr("error", f"the objective {sweep_spec.objective.metric!r} is not among the run's metrics {names}")
                if value is not None:
                    study.tell(trial, value)
                    _say(options, f"trial {trial.number}: {sweep_spec.objective.metric} {value:.4g} ({outcome['seconds']:.1f}s)")
                else:
                    study.tell(trial, state=TrialState.FAIL)
                    _say(options, f"trial {trial.number} failed: {trial.user_attrs.get('error') or outcome.get('error')}")
                done += 1
                ran += 1
                write_reports(folder, study, params, loaded)
    except KeyboardInterrupt:
        workers.interrupt()  # every running trial stops now and records "interrupted" in its run folder
        threads.shutdown(wait=True, cancel_futures=True)
        for trial in pending.values():  # asked again, same values, when the sweep continues
            _interrupted(study, trial._trial_id, trial.number, trial.params)
        write_reports(folder, study, params, loaded)
        manifest["status"] = "interrupted"
        _write_manifest(folder, manifest)
        close_tracking(folder, study, params, loaded, tracker, "interrupted", None)
        raise Interrupted(f"the sweep was interrupted after {ran} trial{'s' if ran != 1 else ''} of this run; the sweep is kept",
                          hint=f"continue it with: kerun sweep --resume {folder}") from None
    except BaseException:
        manifest["status"] = "interrupted"
        _write_manifest(folder, manifest)
        raise
    finally:
        workers.close()
        threads.shutdown(wait=False, cancel_futures=True)
    rows, best = write_reports(folder, study, params, loaded)
    manifest.update({"status": "completed" if best else "failed", "best": best, "ended_at": _now()})
    _write_manifest(folder, manifest)
    close_tracking(folder, study, params, loaded, tracker, manifest["status"], best)  # MLflow's parent run, the HParams dashboard
    if best is None:
        raise RunError(f"no trial of the sweep in {folder} completed", hint=f"see the trials' logs in {folder / 'trials'}")
    return SweepResult(folder=folder, status="completed", trials=rows, best=best, ran=ran, checked=checked)
