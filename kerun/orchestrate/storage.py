"""Sweeps shared through a database: ``kerun sweep SPEC --storage URL``.

The same command on N machines works on one Optuna study in a relational database (any SQLAlchemy
URL Optuna accepts; PostgreSQL is the documented one): every process asks the study for its next
trial, runs it with its own ``--jobs``, and tells the result back. What this module adds to the
embedded sweep (SQLite in the sweep folder):

- **The study** is named after the spec (``name:``, or ``--study NAME``); ``--new`` starts the next
  study of that name (``iris-sweep.2``, ``iris-sweep.3``...), and processes started after it without
  ``--new`` join the latest one. A study remembers a fingerprint of the spec's values: a process
  whose spec or ``--set`` differs is refused rather than mixing trials that are not comparable.
- **The budget** (``sweep.trials``) is the study's, not the process's: before asking for a trial a
  process counts the finished, running and waiting trials in the study, and a trial asked in a race
  past the budget is closed at once as ``surplus`` (hidden from the reports), so N processes with
  ``trials: 6`` run 6 in all.
- **A machine that dies** mid-trial stops sending its trials' heartbeats; after the grace period
  (3 heartbeats) any live process marks the trial failed and Optuna's
  ``RetryHeartbeatStaleTrialCallback`` queues its values again (at most :data:`MAX_RETRY` times), so
  it is run by whoever asks next. A process whose own trials are done waits while others still run,
  so that such a trial is never left behind.
- **Trial values** depend on the trial's number only (the sampler is seeded with ``(seed, number)``
  when the storage hands out the number), so a sweep run by one process gives the same trial table
  on PostgreSQL as on SQLite, and several processes propose what one would have.
- **Where each trial ran**: the trial's user attributes ``host`` and ``run_dir``, so that
  ``trials.csv``, ``best.yaml`` and ``objective.png`` come out the same from any machine
  (``kerun sweep SPEC --storage URL --report`` writes them from the study, running nothing).

The sweep folder of a shared study is ``RUNS/<name>/sweep-<study>/`` (the same on every machine, so
a shared volume holds one folder; per-machine folders hold each machine's trials).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from kerun.errors import RunError
from kerun.run.rundir import SPEC_FILE, atomic_write
from kerun.spec import LoadedSpec, dump_yaml

__all__ = ["HEARTBEAT", "MAX_RETRY", "Shared", "fingerprint", "join", "open_storage", "redact", "report", "shared_folder"]

HEARTBEAT = 10
"""Seconds between two heartbeats of a running trial; a trial silent for three is failed and re-queued."""
MAX_RETRY = 3
"""How many times the values of a trial whose machine died are queued again."""
MANIFEST = "sweep.json"


def redact(url: str) -> str:
    """``url`` with its password hidden, to be shown or kept in a file."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def fingerprint(loaded: LoadedSpec) -> str:
    """The spec's values as used (relative paths, so the same checkout on another machine matches)."""
    return hashlib.sha256(("kerun-shared-sweep\n" + dump_yaml(loaded.data)).encode()).hexdigest()


def _reason(exc: BaseException, url: str) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except Exception:
        password = None
    return line.replace(str(password), "***") if password else line


def open_storage(url: str, heartbeat: int = HEARTBEAT) -> Any:
    """An Optuna ``RDBStorage`` on ``url`` with heartbeats; a clear error for a bad or unreachable URL."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    shown = redact(url)
    example = "postgresql://USER:PASSWORD@HOST:5432/DATABASE, or sqlite:///path/to/study.db"
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise RunError(f"--storage {shown!r} is not a database URL", hint=f"give a SQLAlchemy URL, e.g. {example}") from None
    from optuna.storages import RDBStorage

    try:  # Optuna 4.9 renamed RetryFailedTrialCallback and failed_trial_callback
        from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

        on_stale = "heartbeat_stale_trial_callback"
    except ImportError:
        from optuna.storages import RetryFailedTrialCallback as Retry

        on_stale = "failed_trial_callback"

    engine: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "postgresql":
        engine["connect_args"] = {"connect_timeout": 10}
    try:
        for attempt in range(6):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # heartbeat_interval and the retry callback are "experimental"
                    return RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                                      **{on_stale: Retry(max_retry=MAX_RETRY)})
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                # N processes starting on a new database race to create Optuna's tables; one wins
                if attempt == 5:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")
    except ModuleNotFoundError as exc:
        raise RunError(f"the database driver for {shown} is not installed (no module {exc.name!r})",
                       hint="install it: pip install 'kerun[postgres]' (PostgreSQL through psycopg 3)") from None
    except sqlalchemy.exc.NoSuchModuleError:
        raise RunError(f"--storage {shown}: SQLAlchemy knows no database {parsed.drivername!r}",
                       hint=f"give a SQLAlchemy URL, e.g. {example}") from None
    except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.ArgumentError, OSError) as exc:
        raise RunError(f"cannot open the sweep storage {shown}: {_reason(exc, url)}",
                       hint="check the host, port, user, password and database name, and that the server is up") from None


def _latest(storage: Any, base: str) -> tuple[str | None, int]:
    """The newest study named ``base`` or ``base.N`` in ``storage``, and its generation (1 for ``base``)."""
    best, gen = None, 0
    for summary in storage.get_all_studies():
        name = summary.study_name
        m = re.fullmatch(re.escape(base) + r"\.(\d+)", name)
        g = 1 if name == base else int(m.group(1)) if m else 0
        if g > gen:
            best, gen = name, g
    return best, gen


def study_name(storage: Any, base: str, new: bool) -> str:
    name, gen = _latest(storage, base)
    if name is None:
        return base
    return f"{base}.{gen + 1}" if new else name


def shared_folder(loaded: LoadedSpec, options: Any) -> Path:
    """The sweep folder of the shared study ``options`` names (created, with its spec and manifest)."""
    storage = open_storage(options.storage, options.heartbeat)
    name = study_name(storage, options.study or loaded.name, options.new)
    _check(storage, name, loaded, options.storage)
    folder = (Path(options.runs_dir) / loaded.name).resolve() / ("sweep-" + re.sub(r"[^A-Za-z0-9._-]+", "-", name))
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / SPEC_FILE, loaded.to_yaml())
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        manifest = {}
    manifest.update({
        "kind": "sweep", "name": loaded.name, "status": manifest.get("status", "created"),
        "spec_path": str(loaded.path.resolve()), "root": str(loaded.base_dir.resolve()), "overrides": list(loaded.overrides),
        "fingerprint": fingerprint(loaded), "method": loaded.spec.sweep.method,  # type: ignore[union-attr]
        "storage": redact(options.storage), "study": name,
    })
    manifest.setdefault("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return folder


def _check(storage: Any, name: str, loaded: LoadedSpec, url: str) -> None:
    """Refuse a study that holds a sweep of other values than ``loaded``'s."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return
    theirs = storage.get_study_user_attrs(study_id).get("kerun_fingerprint")
    if theirs is not None and theirs != fingerprint(loaded):
        raise RunError(
            f"the study {name!r} in {redact(url)} is a sweep of other values than {loaded.path} (another spec, or other --set)",
            hint="start the next study of this spec with --new, or name another with --study NAME")


class PerTrialSampler:
    """A sampler made afresh for each trial from the number the storage gave it: trial ``n`` is
    proposed by ``make(n)``, whichever process asks."""

    def __init__(self, make: Callable[[int], Any]) -> None:
        self._make = make
        self._inner = make(0)

    def before_trial(self, study: Any, trial: Any) -> None:
        self._inner = self._make(trial.number)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
        return self._inner.sample_independent(study, trial, name, distribution)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


class Shared:
    """One process's part in a shared study: the budget, the heartbeats of its trials, the wait."""

    def __init__(self, storage: Any, name: str, heartbeat: int) -> None:
        self.storage = storage
        self.name = name
        self.heartbeat = heartbeat
        self.host = socket.gethostname()
        self.retry = getattr(storage, "heartbeat_stale_trial_callback", None) or storage.failed_trial_callback

    def sampler(self, make: Callable[[int], Any]) -> Any:
        import optuna

        # an Optuna sampler by duck type is enough for Study; subclassing keeps isinstance checks true
        cls = type("PerTrialSampler", (PerTrialSampler, optuna.samplers.BaseSampler), {})
        return cls(make)

    def live(self, study: Any) -> list[Any]:
        """The trials that count against the budget: every trial but those closed as interrupted
        (their values asked again) or surplus."""
        return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("interrupted")]

    def counted(self, study: Any) -> int:
        self.fail_stale(study)
        return len(self.live(study))

    def room(self, study: Any, target: int) -> bool:
        """Whether asking for a trial now may give one within the study's budget."""
        from optuna.trial import TrialState

        self.fail_stale(study)
        live = self.live(study)
        return len(live) < target or any(t.state == TrialState.WAITING for t in live)

    def claim(self, study: Any, trial: Any, target: int, folder: Path) -> bool:
        """Keep ``trial`` (just asked) if it is within the budget, counted in the storage's order of
        trial numbers; else close it as surplus. A kept trial records where it runs and beats."""
        from optuna.trial import TrialState

        before = [t for t in self.live(study) if t.number < trial.number]
        if len(before) >= target:
            study._storage.set_trial_user_attr(trial._trial_id, "surplus", True)
            study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)  # hidden from the reports
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            return False
        trial.set_user_attr("host", self.host)
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("run_dir", str(folder / "trials" / f"trial-{trial.number:04d}"))
        self._beat(trial._trial_id, trial.number)
        return True

    def _beat(self, trial_id: int, number: int) -> None:
        """Record the trial's heartbeat now and every ``heartbeat`` seconds while it runs."""
        from optuna.trial import TrialState

        self.storage.record_heartbeat(trial_id)

        def beat() -> None:
            while True:
                time.sleep(self.heartbeat)
                try:
                    if self.storage.get_trial(trial_id).state != TrialState.RUNNING:
                        break
                    self.storage.record_heartbeat(trial_id)
                except Exception:  # the database away for a moment: the next beat tries again
                    continue

        threading.Thread(target=beat, name=f"kerun-heartbeat-{number}", daemon=True).start()

    def fail_stale(self, study: Any) -> None:
        """Fail the trials whose process stopped beating and queue their values again.

        What ``optuna.storages.fail_stale_trials`` does with ``RetryHeartbeatStaleTrialCallback``,
        but the stale trial is first marked ``interrupted`` (while it is still running, the only
        time it can be), so the reports and the budget skip it as they skip a trial stopped by
        Ctrl-C, and the queued copy does not inherit where the dead trial ran."""
        import copy

        import optuna
        from optuna.trial import TrialState

        for trial_id in self.storage._get_stale_trial_ids(study._study_id):
            try:
                self.storage.set_trial_user_attr(trial_id, "interrupted", True)
                if not self.storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another process failed it first (and queued it)
            dead = copy.deepcopy(self.storage.get_trial(trial_id))
            dead.user_attrs = {k: v for k, v in dead.user_attrs.items() if k not in ("interrupted", "host", "pid", "run_dir")}
            self.retry(study, dead)

    def wait(self, study: Any) -> bool:
        """With none of this process's trials left: True (after a short sleep) while other
        processes' trials still run or wait, so that one whose machine dies is run here."""
        from optuna.trial import TrialState

        self.fail_stale(study)
        others = [t for t in self.live(study) if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        if not others:
            return False
        time.sleep(min(2.0, float(self.heartbeat)))
        return True


def join(folder: Path, options: Any, loaded: LoadedSpec, direction: str) -> Shared:
    """This process's part in the shared study of the sweep ``folder`` (created if it is new)."""
    import optuna

    # the heartbeats of this process's trials are recorded by its own threads, not by study.optimize
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    storage = open_storage(options.storage, options.heartbeat)
    name = manifest["study"]
    _check(storage, name, loaded, options.storage)
    study = optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True)
    if "kerun_fingerprint" not in study.user_attrs:
        study.set_user_attr("kerun_fingerprint", fingerprint(loaded))
        study.set_user_attr("kerun_spec", loaded.name)
    return Shared(storage, name, options.heartbeat)


def report(spec: Path | None, overrides: list[str], options: Any, find: Callable[[LoadedSpec, Path], Path | None],
           other: bool = False) -> tuple[Path, list[dict[str, Any]], dict[str, Any] | None]:
    """Rewrite a sweep's ``trials.csv``, ``trials.json``, ``best.yaml`` and ``objective.png`` from its
    study, running no trial (``kerun sweep SPEC --report``): the shared study ``options`` names, or
    else the SQLite study of the embedded sweep of SPEC that ``find`` finds."""
    import optuna

    from kerun.orchestrate.sweep_report import write_reports
    from kerun.spec import load_spec
    from kerun.spec.space import parse_space

    if spec is None or other:
        raise RunError("--report writes the reports of the sweep of SPEC, with no --resume or --new",
                       hint="kerun sweep SPEC --report (and --storage URL for a shared sweep)")
    loaded = load_spec(spec, overrides)
    if options.storage:
        storage = open_storage(options.storage, options.heartbeat)
        name, _ = _latest(storage, options.study or loaded.name)
        if name is None:
            raise RunError(f"{redact(options.storage)} holds no study {options.study or loaded.name!r} to report on",
                           hint=f"start it: kerun sweep {loaded.path} --storage URL")
        _check(storage, name, loaded, options.storage)
        folder = shared_folder(loaded, options)
        study = optuna.load_study(study_name=name, storage=storage)
    else:
        folder = find(loaded, Path(options.runs_dir))
        if folder is None:
            raise RunError(f"no sweep of {loaded.path} in {options.runs_dir} to report on",
                           hint=f"run it: kerun sweep {loaded.path}, or give its database with --storage URL")
        study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{folder / 'study.db'}")
    rows, best = write_reports(folder, study, parse_space(loaded), loaded)
    return folder, rows, best
