"""``kerun sweep SPEC``: a hyper-parameter search over the spec's ``sweep.space``, on Optuna.

The engine is an Optuna study in SQLite in the sweep's own folder (``study.db``), so a sweep that
was interrupted (Ctrl-C, a killed process, a reboot) continues where it stopped, and a finished
sweep asked again runs nothing. Samplers: ``grid`` -> ``GridSampler``, ``random`` ->
``RandomSampler``, ``bayesian`` -> ``TPESampler``, all seeded from the spec's ``seed``; the
sampler is re-seeded for each trial with ``(seed, trial number)``, so a resumed sweep proposes the
same values an uninterrupted one would have (with ``--jobs 1``).

Before the first trial, variants of the spec are checked against the schema, without TensorFlow
(about 3 ms each); the first invalid one stops the sweep with its error placed at the space
entry's file, line and column:

- ``grid``: every combination (a grid is finite; more than :data:`MAX_GRID` is refused).
- ``random`` and ``bayesian``: the values a range can reach are infinite, so kerun checks what
  the schema can tell apart: every choice, and both ends of every range (``int``: low and high;
  ``uniform``/``log_uniform``: low and high), each varied one at a time with the other entries at
  their first value, plus the corner with every entry at its last value. Schema rules are
  per-value bounds (positive, at most 1, an integer, a known name), so a range valid at both ends
  is valid inside; what one-at-a-time misses is an interaction of two entries, which the corners
  catch only partly (documented).

Each trial is an ordinary ``kerun train SPEC --set PATH=VALUE ... --json`` subprocess (TensorFlow
state never leaks from one trial to the next; ``--jobs N`` runs N at once) whose run folder is
``<sweep>/trials/trial-<number>/``. After every trial the sweep rewrites ``trials.csv``,
``trials.json``, ``objective.png`` and ``best.yaml`` (the spec with the best values applied and the
``sweep`` section removed, paths made relative to the sweep folder: it validates and trains as is).

The objective is the metric of the trained model at the end of the trial, as ``kerun train``
reports it: ``val_<m>`` from the validation split, ``test_<m>`` from the test split, ``<m>`` from
the training split.
"""

from __future__ import annotations

import copy
import csv
import datetime as _dt
import hashlib
import io
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from kerun.errors import Location, Problem, RunError, SpecError
from kerun.orchestrate.lifeline import child_env
from kerun.spec import LoadedSpec, dump_yaml, load_spec, spec_from_text
from kerun.spec.overrides import resolve_path

__all__ = ["Param", "SweepOptions", "SweepResult", "check_variants", "parse_space", "resume_sweep", "sweep", "sweep_file"]

MAX_GRID = 5000
DEFAULT_TRIALS = 10
STUDY = "study.db"
MANIFEST = "sweep.json"
RUN_DIR_ENV = "KERUN_RUN_DIR"  # honoured by kerun.run.train (not imported here: no TensorFlow in the sweep process)
_PRIMITIVE = (type(None), bool, int, float, str)


# ---------------------------------------------------------------------------------------------
# The search space


@dataclass
class Param:
    """One ``sweep.space`` entry: a dotted path of the spec and the values it may take."""

    key: str
    kind: str  # choice | uniform | log_uniform | int
    choices: list[Any] = field(default_factory=list)
    low: float = 0.0
    high: float = 0.0
    location: Location | None = None

    @property
    def encoded(self) -> bool:
        """Optuna's categorical values must be primitives: other choices travel as JSON text."""
        return self.kind == "choice" and not all(isinstance(c, _PRIMITIVE) for c in self.choices)

    def encode(self, value: Any) -> Any:
        return json.dumps(value, sort_keys=True) if self.encoded else value

    def decode(self, value: Any) -> Any:
        if self.encoded:
            return json.loads(value)
        if self.kind == "int":
            return int(value)
        return value

    def distribution(self) -> Any:
        import optuna.distributions as d

        if self.kind == "choice":
            return d.CategoricalDistribution([self.encode(c) for c in self.choices])
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high))
        return d.FloatDistribution(self.low, self.high, log=self.kind == "log_uniform")

    def grid(self) -> list[Any]:
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        raise SpecError(
            f"a grid sweep needs values it can list; {self.kind}: [{self.low}, {self.high}] is a continuous range",
            location=self.location,
            path=("sweep", "space", self.key),
            hint="list the values (a plain list, or choice: [...]) or an int range, or use method: random or bayesian",
        )

    def extremes(self) -> list[Any]:
        """The values the pre-flight check tries for a random or bayesian sweep."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


def parse_space(loaded: LoadedSpec) -> list[Param]:
    sweep = loaded.spec.sweep
    if sweep is None:
        raise SpecError(
            "this spec has no sweep section",
            location=Location(str(loaded.path)),
            hint="add sweep: {method: random, trials: 10, space: {compile.optimizer.learning_rate: {log_uniform: [1e-4, 1e-2]}}}",
        )
    params = []
    for key, entry in sweep.space.items():
        loc = loaded.doc.locate(("sweep", "space", key), key=True)
        if isinstance(entry, list):
            params.append(Param(key, "choice", choices=list(entry), location=loc))
        elif entry.choice is not None:
            params.append(Param(key, "choice", choices=list(entry.choice), location=loc))
        else:
            kind = next(k for k in ("uniform", "log_uniform", "int") if getattr(entry, k) is not None)
            low, high = getattr(entry, kind)
            params.append(Param(key, kind, low=low, high=high, location=loc))
    return params


def overrides_for(values: dict[str, Any]) -> list[str]:
    """``--set`` arguments for a trial (JSON is YAML that reads back to the same value)."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


def _variants(params: list[Param], method: str) -> Iterator[dict[str, Any]]:
    if method == "grid":
        grids = [p.grid() for p in params]
        total = 1
        for g in grids:
            total *= len(g)
        if total > MAX_GRID:
            raise SpecError(
                f"the grid has {total} combinations; kerun runs grids of at most {MAX_GRID}",
                location=params[0].location,
                path=("sweep", "space"),
                hint="use fewer values, or method: random or bayesian with a number of trials",
            )
        for combo in itertools.product(*grids):
            yield {p.key: v for p, v in zip(params, combo)}
        return
    seen: set[str] = set()
    base = {p.key: p.extremes()[0] for p in params}
    candidates = [base, {p.key: p.extremes()[-1] for p in params}]
    for p in params:
        for value in p.extremes():
            candidates.append({**base, p.key: value})
    for c in candidates:
        token = json.dumps(c, sort_keys=True, default=str)
        if token not in seen:
            seen.add(token)
            yield c


def check_variants(loaded: LoadedSpec, params: list[Param], method: str) -> int:
    """Check the variants of the spec the sweep may train (see the module's docstring); return how
    many were checked; raise the first invalid variant's :class:`SpecError`, placed at the space
    entries."""
    count = 0
    for values in _variants(params, method):
        count += 1
        try:
            load_spec(loaded.path, [*loaded.overrides, *overrides_for(values)], root=loaded.root)
        except SpecError as exc:
            raise _variant_error(exc, params, values) from None
    return count


def _variant_error(exc: SpecError, params: list[Param], values: dict[str, Any]) -> SpecError:
    by_origin = {f"--set {o}": p for o, p in zip(overrides_for(values), params)}
    shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items())
    problems = []
    for prob in exc.problems:
        param = by_origin.get(prob.location.file if prob.location else "")
        if param is None:  # the value is fine where it goes but breaks something elsewhere
            param = next((p for p in params if prob.path[:1] and p.key.split(".")[0] == prob.path[0]), params[0])
        from kerun.errors import format_path

        where = f"{format_path(prob.path)}: " if prob.path else ""
        hint = (prob.hint + "\n" if prob.hint else "") + f"the variant {shown} makes an invalid spec; change this space entry"
        problems.append(Problem(
            message=f"{param.key}={json.dumps(values[param.key])} is invalid: {where}{prob.message}",
            location=param.location,
            path=("sweep", "space", param.key),
            hint=hint,
        ))
    return SpecError.from_problems(problems)


# ---------------------------------------------------------------------------------------------
# The sweep folder


@dataclass
class SweepOptions:
    runs_dir: Path = Path("runs")
    jobs: int = 1
    new: bool = False  # start a new sweep even if one of the same spec exists
    on_event: Callable[[str], None] | None = None


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
    checked = check_variants(loaded, params, loaded.spec.sweep.method)  # type: ignore[union-attr]
    folder = None if options.new else find_sweep(loaded, options.runs_dir)
    if folder is None:
        from kerun.run.rundir import atomic_write

        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        folder = (options.runs_dir / loaded.name).resolve() / f"sweep-{stamp}-{secrets.token_hex(3)}"
        folder.mkdir(parents=True)
        atomic_write(folder / "spec.yaml", loaded.to_yaml())
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
    if _fingerprint(loaded) != manifest.get("fingerprint"):
        raise RunError(
            f"{manifest['spec_path']} changed since the sweep in {folder} started; its trials would not be comparable",
            hint=f"start a new sweep: kerun sweep {manifest['spec_path']} (the old one stays in {folder})",
        )
    params = parse_space(loaded)
    checked = check_variants(loaded, params, loaded.spec.sweep.method)  # type: ignore[union-attr]
    return _run(folder.resolve(), loaded, params, options, checked)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _say(options: SweepOptions, message: str) -> None:
    if options.on_event is not None:
        options.on_event(message)


def _write_manifest(folder: Path, data: dict[str, Any]) -> None:
    from kerun.run.rundir import atomic_write

    atomic_write(folder / MANIFEST, json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Running trials


def _sampler(method: str, seed: int, number: int, params: list[Param], target: int) -> Any:
    import optuna

    s = (seed * 1_000_003 + number) % (2**32)
    if method == "grid":
        return optuna.samplers.GridSampler({p.key: [p.encode(v) for v in p.grid()] for p in params}, seed=s)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=s)
    # A third of the budget (2 to 10 trials) explores at random before TPE models the results.
    return optuna.samplers.TPESampler(seed=s, n_startup_trials=min(10, max(2, target // 3)))


_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


def _run_trial(loaded: LoadedSpec, folder: Path, number: int, values: dict[str, Any]) -> dict[str, Any]:
    """One ``kerun train`` subprocess; its JSON result, or the error it reported."""
    run_dir = folder / "trials" / f"trial-{number:04d}"
    log = folder / "trials" / f"trial-{number:04d}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "kerun", "train", str(loaded.path.resolve()),
               *[a for o in [*loaded.overrides, *overrides_for(values)] for a in ("--set", o)], "--json"]
    env = child_env({**os.environ, RUN_DIR_ENV: str(run_dir)})
    env.pop("TF_CONFIG", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.monotonic()
    with open(log, "wb") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        with _LIVE_LOCK:
            _LIVE.add(proc)
        try:
            out, _ = proc.communicate()
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
    text = out.decode("utf-8", errors="replace")
    try:
        result = json.loads(text[text.index("{"):])
    except ValueError:
        result = {}
    outcome = {"run_dir": str(run_dir), "seconds": round(time.monotonic() - t0, 2), "exit_code": proc.returncode}
    if proc.returncode == 0 and result.get("status") == "completed":
        outcome["metrics"] = result.get("metrics", {})
    elif result.get("problems"):
        outcome["error"] = "\n".join(
            (f"{p['file']}:{p['line']}:{p['column']}: " if p.get("line") else "") + p.get("message", "") for p in result["problems"])
    else:
        tail = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        outcome["error"] = f"exit code {proc.returncode}" + (f": {tail[-1]}" if tail else "")
    return outcome


def _objective(metrics: dict[str, dict[str, float]], name: str) -> float | None:
    for prefix, split in (("val_", "validation"), ("test_", "test")):
        if name.startswith(prefix) and name[len(prefix):] in metrics.get(split, {}):
            return float(metrics[split][name[len(prefix):]])
    value = metrics.get("train", {}).get(name)
    return None if value is None else float(value)


def _kill_live() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


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
    study = optuna.create_study(storage=f"sqlite:///{folder / STUDY}", study_name="sweep", direction=direction,
                                load_if_exists=True, sampler=_sampler(method, seed, 0, params, target))
    distributions = {p.key: p.distribution() for p in params}
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))

    # Trials a killed sweep left running are closed as interrupted and asked again, same values.
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(dict(t.params), skip_if_exists=False)
        _say(options, f"trial {t.number} was interrupted; its values will run again")

    def counted() -> int:
        return sum(1 for t in study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.FAIL) and not t.user_attrs.get("interrupted"))

    done = counted()
    ran = 0
    manifest.update({"status": "running", "trials": target, "objective": sweep_spec.objective.model_dump(),
                     "pid": os.getpid(), "checked_variants": checked})
    _write_manifest(folder, manifest)
    if done >= target:
        _say(options, f"all {target} trials are done already; nothing to run")
    pending: dict[Future[dict[str, Any]], Any] = {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            while True:
                while len(pending) < max(1, options.jobs) and done + len(pending) < target:
                    number = len(study.trials)
                    study.sampler = _sampler(method, seed, number, params, target)
                    trial = study.ask(distributions)
                    values = {p.key: p.decode(trial.params[p.key]) for p in params}
                    _say(options, f"trial {trial.number}: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items()))
                    pending[pool.submit(_run_trial, loaded, folder, trial.number, values)] = trial
                if not pending:
                    break
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in finished:
                    trial = pending.pop(fut)
                    outcome = fut.result()
                    for k in ("run_dir", "seconds", "error"):
                        if k in outcome:
                            trial.set_user_attr(k, outcome[k])
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
                    _reports(folder, study, params, loaded)
    except BaseException:
        _kill_live()
        manifest["status"] = "interrupted"
        _write_manifest(folder, manifest)
        raise
    rows, best = _reports(folder, study, params, loaded)
    manifest.update({"status": "completed" if best else "failed", "best": best, "ended_at": _now()})
    _write_manifest(folder, manifest)
    if best is None:
        raise RunError(f"no trial of the sweep in {folder} completed", hint=f"see the trials' logs in {folder / 'trials'}")
    return SweepResult(folder=folder, status="completed", trials=rows, best=best, ran=ran, checked=checked)


# ---------------------------------------------------------------------------------------------
# Reports: trials table, best spec, plot


def _reports(folder: Path, study: Any, params: list[Param], loaded: LoadedSpec) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    from optuna.trial import TrialState

    from kerun.run.rundir import atomic_write

    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("interrupted"):
            continue
        state = {TrialState.COMPLETE: "completed", TrialState.FAIL: "failed", TrialState.RUNNING: "running"}.get(t.state, t.state.name.lower())
        row: dict[str, Any] = {"trial": t.number, "state": state, "value": t.value if t.state == TrialState.COMPLETE else None}
        for p in params:
            row[p.key] = p.decode(t.params[p.key]) if p.key in t.params else None
        row["seconds"] = t.user_attrs.get("seconds")
        row["run_dir"] = t.user_attrs.get("run_dir")
        row["error"] = t.user_attrs.get("error")
        rows.append(row)
    atomic_write(folder / "trials.json", json.dumps(rows, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["trial", "state", "value", *[p.key for p in params], "seconds", "run_dir", "error"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in row.items()})
    atomic_write(folder / "trials.csv", buf.getvalue())
    completed = [r for r in rows if r["state"] == "completed"]
    best = None
    if completed:
        pick = max if study.direction.name == "MAXIMIZE" else min
        top = pick(completed, key=lambda r: r["value"])
        best = {"trial": top["trial"], "value": top["value"], "params": {p.key: top[p.key] for p in params}, "run_dir": top["run_dir"]}
        atomic_write(folder / "best.yaml", best_spec_text(loaded, folder, best, loaded.spec.sweep.objective.metric))  # type: ignore[union-attr]
    try:
        from kerun.run.rundir import atomic_path

        with atomic_path(folder / "objective.png") as tmp:
            plot_objective(rows, tmp, loaded.spec.sweep.objective.metric, study.direction.name == "MAXIMIZE")  # type: ignore[union-attr]
    except Exception:  # a plot is a convenience; never fail a sweep on it
        pass
    return rows, best


def _relocate_paths(data: dict[str, Any], base: Path, folder: Path) -> None:
    """Relative file paths of the spec (data sources, plugin files) rewritten for a spec in ``folder``."""

    def fix(value: str) -> str:
        p = Path(value).expanduser()
        return value if p.is_absolute() else os.path.relpath(base / p, folder)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "path" and isinstance(v, str):
                    node[k] = fix(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data.get("data"))
    plugins = data.get("plugins")
    if isinstance(plugins, list):
        data["plugins"] = [fix(p) if isinstance(p, str) and (p.endswith(".py") or "/" in p) else p for p in plugins]


def best_spec_text(loaded: LoadedSpec, folder: Path, best: dict[str, Any], metric: str) -> str:
    """The spec with the best trial's values, ready to train from ``folder``; checked before it is returned."""
    data = copy.deepcopy(loaded.data)
    for key, value in best["params"].items():
        path, parent = resolve_path(data, key)
        parent[path[-1]] = copy.deepcopy(value)
    data.pop("sweep", None)
    _relocate_paths(data, loaded.base_dir, folder)
    header = (f"# The best trial ({best['trial']}, {metric} = {best['value']:.6g}) of the sweep of {loaded.path}.\n"
              f"# Train it with: kerun train {folder / 'best.yaml'}\n")
    text = header + dump_yaml(data)
    spec_from_text(text, file=str(folder / "best.yaml"))  # a best spec that does not validate is a bug here
    return text


def plot_objective(rows: list[dict[str, Any]], target: Path, metric: str, maximize: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["state"] == "completed"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    xs = [r["trial"] for r in done]
    ys = [r["value"] for r in done]
    ax.scatter(xs, ys, s=18, label="trial")
    best: list[float] = []
    for y in ys:
        best.append(y if not best else (max if maximize else min)(best[-1], y))
    if xs:
        ax.step(xs, best, where="post", color="C1", label="best so far")
    failed = [r["trial"] for r in rows if r["state"] == "failed"]
    if failed and ys:
        ax.scatter(failed, [min(ys)] * len(failed), marker="x", color="C3", label="failed")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=100)
    plt.close(fig)
