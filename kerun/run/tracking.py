"""MLflow tracking of a run (``tracking: mlflow`` or ``kerun train --track mlflow``).

MLflow's own configuration decides where runs go: ``MLFLOW_TRACKING_URI`` and
``MLFLOW_EXPERIMENT_NAME`` (or ``MLFLOW_EXPERIMENT_ID``). With no URI set, the store is embedded: a
SQLite file beside the runs, ``runs/mlflow.db``, artifacts in ``runs/mlartifacts/``, which
``mlflow ui --backend-store-uri sqlite:///runs/mlflow.db`` shows. The experiment is, by default,
the spec's name.

A run logs the spec's values as parameters (dotted paths, overrides applied), every epoch's
metrics (step = epoch), the final metrics of each split (``final.<split>.<metric>``), the run
folder's files as artifacts, the model in MLflow's Keras flavour (``runs:/<id>/model``) and tags
(kerun's version, the git commit, the run folder). The MLflow run id is in the manifest
(``mlflow.run_id``). A sweep is a parent MLflow run; its trials are children
(:func:`start_sweep`, :func:`child_environment`).

Tracking never fails a run: the first error from MLflow (a server that is down, or goes down)
prints one warning line, tracking stops, and training goes on; the manifest says tracking stopped
and why. HTTP retries and timeouts are bounded (:data:`HTTP_BOUNDS`, unless the user set them), so
a dead server costs seconds. This module imports neither TensorFlow nor ``mlflow.keras`` until a
trained model is logged: a sweep's parent uses it without TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from kerun.errors import RunError
from kerun.run.rundir import LOCK_FILE, MODEL_FILE

__all__ = ["HTTP_BOUNDS", "Tracker", "child_environment", "finish_sweep", "flatten_params", "start_sweep", "start_tracking", "store_uri"]

DEFAULT_DB = "mlflow.db"
DEFAULT_ARTIFACTS = "mlartifacts"
PARENT_ENV = "KERUN_MLFLOW_PARENT_RUN_ID"
INSTALL_HINT = "pip install 'kerun[mlflow]'"
# MLflow's defaults retry 7 times with a growing backoff: minutes before a dead server is given up.
HTTP_BOUNDS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
PARAM_VALUE_LIMIT = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
PARAM_KEY_LIMIT = 250  # MAX_ENTITY_KEY_LENGTH
BATCH = 100  # MAX_PARAMS_TAGS_PER_BATCH
# Run-folder files not sent as artifacts: the model goes in MLflow's Keras flavour instead.
NOT_ARTIFACTS = {MODEL_FILE, LOCK_FILE}


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise RunError("mlflow tracking needs the mlflow package, which is not installed", hint=INSTALL_HINT) from None
    return mlflow


def store_uri(runs_dir: Path) -> str:
    """MLflow's tracking URI: MLFLOW_TRACKING_URI, else the embedded SQLite store beside the runs."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(runs_dir) / DEFAULT_DB).resolve()}"


def _shown_uri(uri: str) -> str:
    """The URI without a password (``https://user:secret@host`` -> ``https://user@host``)."""
    return re.sub(r"//([^/@:]+):[^/@]*@", r"//\1@", uri)


@contextlib.contextmanager
def _bounded_http() -> Iterator[None]:
    """MLflow's HTTP retries and timeout bounded for the calls inside (the user's settings win);
    urllib3's retry warnings and MLflow's chatter ("Updating database tables", "without specifying
    model signature") silenced, since the one warning kerun prints says what matters."""
    saved = {k: os.environ.get(k) for k in HTTP_BOUNDS}
    for key, value in HTTP_BOUNDS.items():
        os.environ.setdefault(key, value)
    loggers = [logging.getLogger(name) for name in ("urllib3.connectionpool", "mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _key(path: str) -> str:
    return re.sub(r"[^\w\-. /]", "_", path)[:PARAM_KEY_LIMIT]


def flatten_params(data: Any, prefix: str = "") -> dict[str, str]:
    """A spec as ``{dotted.path: value}``: mappings and lists of mappings are walked (list entries
    by index), other lists and scalars are JSON; a value longer than MLflow's limit is cut, said so."""
    out: dict[str, str] = {}
    if isinstance(data, dict) and data:
        for k, v in data.items():
            out.update(flatten_params(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(data, list) and any(isinstance(v, (dict, list)) for v in data):
        for i, v in enumerate(data):
            out.update(flatten_params(v, f"{prefix}.{i}"))
    elif prefix:
        text = data if isinstance(data, str) else json.dumps(data, default=str)
        if len(text) > PARAM_VALUE_LIMIT:
            cut = f"... ({len(text)} characters, cut)"
            text = text[: PARAM_VALUE_LIMIT - len(cut)] + cut
        out[_key(prefix)] = text
    return out


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"


class Tracker:
    """One MLflow run; every call to MLflow goes through :meth:`call`, which stops tracking at the
    first error with one warning line instead of failing the run."""

    def __init__(self, client: Any, run_id: str, uri: str, experiment_id: str, *, record: Callable[[dict[str, Any]], None]) -> None:
        self.client = client
        self.run_id = run_id
        self.uri = uri
        self.experiment_id = experiment_id
        self.record = record  # writes the manifest's "mlflow" entry
        self.stopped: str | None = None
        self.closed = False

    def entry(self, status: str) -> dict[str, Any]:
        return {"run_id": self.run_id, "experiment_id": self.experiment_id, "tracking_uri": _shown_uri(self.uri), "status": status}

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.stopped is not None:
            return None
        try:
            with _bounded_http():
                return fn(*args, **kwargs)
        except Exception as exc:  # MLflow's, requests', SQLAlchemy's: tracking is a convenience, never the run's failure
            self.stopped = f"{what}: {_one_line(exc)}"
            print(f"kerun: warning: MLflow tracking stopped ({self.stopped}); training goes on, the run folder is complete",
                  file=sys.stderr)
            with contextlib.suppress(Exception):
                self.record(self.entry(f"stopped: {self.stopped}"))
            return None

    def log_metrics(self, values: dict[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(_key(k), float(v), now, step) for k, v in values.items() if isinstance(v, (int, float))]
        for i in range(0, len(metrics), BATCH * 10):
            self.call(f"logging the metrics of step {step}", self.client.log_batch, self.run_id, metrics=metrics[i:i + BATCH * 10])

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), BATCH):
            self.call("logging the spec's values", self.client.log_batch, self.run_id, params=items[i:i + BATCH])

    def callback(self) -> Any:
        """A Keras callback logging every epoch's metrics, step = the epoch (from 1, as history.csv)."""
        import keras

        tracker = self

        class MlflowEpochs(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                tracker.log_metrics(dict(logs or {}), step=epoch + 1)

        return MlflowEpochs()

    def log_model(self, model: Any) -> None:
        """The model in MLflow's Keras flavour, at ``runs:/<id>/model``; its requirements are given,
        not inferred (MLflow would load the model again in a new process to find them)."""
        import keras
        import tensorflow as tf

        from kerun import __version__

        def log() -> None:
            import mlflow.keras

            with tempfile.TemporaryDirectory(prefix="kerun-mlflow-") as tmp:
                mlflow.keras.save_model(model, str(Path(tmp) / "model"), pip_requirements=[
                    f"keras=={keras.__version__}", f"tensorflow=={tf.__version__}", f"kerun=={__version__}"])
                self.client.log_artifacts(self.run_id, str(Path(tmp) / "model"), "model")

        self.call("logging the model", log)

    def log_folder(self, folder: Path) -> None:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name not in NOT_ARTIFACTS and not path.name.startswith("."):
                self.call(f"sending {path.name}", self.client.log_artifact, self.run_id, str(path))

    def close(self, run: Any, result: Any | None) -> None:
        """The end of the run: on success the final metrics, the model and the folder's files; the
        MLflow run ends as FINISHED, FAILED or KILLED, as the manifest's status says."""
        if self.closed:
            return
        self.closed = True
        status = str(run.manifest.get("status"))
        if result is not None and status in ("completed", "pruned"):
            for split, values in (result.metrics or {}).items():
                self.log_metrics({f"final.{split}.{k}": v for k, v in values.items()}, step=result.epochs)
            if result.built is not None:
                self.log_model(result.built.model)
            if self.stopped is None:
                self.record(self.entry("logged"))
            self.log_folder(run.path)
        else:
            self.log_folder(run.path)  # what a failed or interrupted run left: its manifest says why
        end = {"completed": "FINISHED", "pruned": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED")
        self.call("ending the run", self.client.set_terminated, self.run_id, end)


def _experiment(client: Any, name: str, artifacts: Path | None) -> str:
    experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
    if experiment_id:
        return experiment_id
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or name
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(client.create_experiment(name, artifact_location=artifacts.resolve().as_uri() if artifacts else None))


def _open(name: str, runs_dir: Path, run_name: str, tags: dict[str, str], record: Callable[[dict[str, Any]], None]) -> Tracker | None:
    mlflow = _mlflow()
    from mlflow.utils import mlflow_tags

    uri = store_uri(runs_dir)
    embedded = "MLFLOW_TRACKING_URI" not in os.environ
    if embedded:
        runs_dir.mkdir(parents=True, exist_ok=True)
    probe = Tracker(None, "", uri, "", record=lambda entry: record({k: v for k, v in entry.items() if v}))
    client = probe.call("opening the store", mlflow.MlflowClient, tracking_uri=uri)  # a new SQLite store is created here
    if client is None:
        return None
    parent = os.environ.get(PARENT_ENV)
    if parent:
        tags[mlflow_tags.MLFLOW_PARENT_RUN_ID] = parent
    experiment_id = probe.call("opening the experiment", _experiment, client, name,
                               runs_dir / DEFAULT_ARTIFACTS if embedded else None)
    created = probe.call("creating the run", client.create_run, experiment_id, tags=tags, run_name=run_name) if experiment_id else None
    if created is None:
        return None
    tracker = Tracker(client, created.info.run_id, uri, experiment_id, record=record)
    record(tracker.entry("running"))
    return tracker


def _tags(run: Any, loaded: Any) -> dict[str, str]:
    from mlflow.utils import mlflow_tags

    from kerun import __version__

    tags = {"kerun.version": __version__, "kerun.run_dir": str(run.path.resolve()), "kerun.spec": str(loaded.path.resolve()),
            "kerun.overrides": json.dumps(list(loaded.overrides))[:PARAM_VALUE_LIMIT], mlflow_tags.MLFLOW_SOURCE_NAME: "kerun"}
    git = run.manifest.get("git") or {}
    if git.get("commit"):
        tags[mlflow_tags.MLFLOW_GIT_COMMIT] = git["commit"]
        if git.get("branch"):
            tags[mlflow_tags.MLFLOW_GIT_BRANCH] = git["branch"]
    return tags


def start_tracking(loaded: Any, run: Any, runs_dir: Path) -> Tracker | None:
    """The MLflow run of a training run whose spec asks for it (None otherwise, or when MLflow could
    not be reached: warned). Call after ``run.start``; only the writer of the run folder tracks."""
    if getattr(loaded.spec, "tracking", None) != "mlflow" or not run.writer:
        return None

    def record(entry: dict[str, Any]) -> None:
        run.update(mlflow=entry)  # the manifest, written atomically (kerun.run.rundir)

    # A resumed run is a new MLflow run (its steps go on from the epoch it resumes at).
    tracker = _open(loaded.name, Path(runs_dir), f"{run.path.parent.name}/{run.path.name}", _tags(run, loaded), record)
    if tracker is not None:
        tracker.log_params(flatten_params(loaded.self_contained()))
    return tracker


def start_sweep(loaded: Any, folder: Path, runs_dir: Path, record: Callable[[dict[str, Any]], None]) -> Tracker | None:
    """The parent MLflow run of a sweep (no TensorFlow imported); its trials are its children
    through :func:`child_environment`."""
    if getattr(loaded.spec, "tracking", None) != "mlflow":
        return None
    from kerun import __version__

    tags = {"kerun.version": __version__, "kerun.sweep_dir": str(folder), "kerun.spec": str(loaded.path.resolve())}
    tracker = _open(loaded.name, Path(runs_dir), f"{folder.parent.name}/{folder.name}", tags, record)
    if tracker is not None:
        sweep = loaded.spec.sweep
        tracker.log_params({"sweep.method": sweep.method, "sweep.objective": f"{sweep.objective.metric} ({sweep.objective.direction})",
                            **{f"sweep.space.{k}": v for k, v in flatten_params(loaded.data.get("sweep", {}).get("space", {})).items()}})
    return tracker


def finish_sweep(tracker: Tracker | None, status: str, best: dict[str, Any] | None, objective: str) -> None:
    """The parent run's end: the best trial's objective and values, FINISHED or FAILED/KILLED."""
    if tracker is None or tracker.closed:
        return
    tracker.closed = True
    if best and isinstance(best.get("value"), (int, float)):
        tracker.log_metrics({f"best.{objective}": best["value"]}, step=int(best.get("trial", 0)))
    end = {"completed": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED")
    tracker.call("ending the sweep's run", tracker.client.set_terminated, tracker.run_id, end)
    if tracker.stopped is None:
        tracker.record(tracker.entry("logged" if end == "FINISHED" else end.lower()))


def child_environment(tracker: Tracker | None) -> dict[str, str]:
    """What a sweep's trials need to log as children of its run, into the same store and experiment."""
    if tracker is None or tracker.stopped is not None:
        return {}
    return {"MLFLOW_TRACKING_URI": tracker.uri, "MLFLOW_EXPERIMENT_ID": tracker.experiment_id, PARENT_ENV: tracker.run_id}
