"""``kerun train``: from a checked spec to a trained model and a complete run directory.

``train_file(path, overrides)`` loads and checks the spec and calls ``train(loaded)``; the CLI only
parses and renders. Training is guarded: an exception marks the run ``failed`` with the error in
the manifest, Ctrl-C or SIGTERM mark it ``interrupted``, and ``--resume`` continues either from the
last backed-up epoch in the same folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from kerun.errors import Interrupted, KerunError, RunError
from kerun.run.options import RunResult, TrainOptions
from kerun.run.rundir import RUN_DIR_ENV, SPEC_FILE, TRACEBACK_FILE
from kerun.spec import LoadedSpec, load_spec

__all__ = ["RunResult", "TrainOptions", "train", "train_file"]


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread, like Ctrl-C, so both stop cleanly."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def train_file(path: str | Path, overrides: Sequence[str] = (), options: TrainOptions | None = None) -> RunResult:
    return train(load_spec(path, overrides), options or TrainOptions())


def _same_model(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("model", "models", "plugins")
    return all(a.get(k) == b.get(k) for k in keys)


def train(loaded: LoadedSpec, options: TrainOptions | None = None) -> RunResult:
    """Train the spec; return the run's result. Raises KerunError on failure (the run records it)."""
    options = options or TrainOptions()
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    from kerun.run.rundir import RunDir
    from kerun.run.session import TrainingSession

    fresh = False
    if options.resume is not None:
        run = RunDir.open(options.resume)
        run.lock()  # before anything is touched: a second --resume of a run in training stops here
        try:
            run.remove_stale_temporaries()
            if run.manifest.get("status") == "completed":
                raise RunError(f"the run {options.resume} is complete; there is nothing to resume")
            if run.manifest.get("status") == "pruned":  # whole, its backup removed: a resume would start over
                raise RunError(
                    f"the run {options.resume} was stopped by its sweep's pruner after epoch "
                    f"{run.manifest.get('pruned_at_epoch', '?')} and is whole (model saved, splits evaluated); there is nothing to resume",
                    hint=f"to train those values longer, train a new run: kerun train {run.file(SPEC_FILE)}",
                )
            from kerun.spec.loader import load_document

            previous = load_document(run.file(SPEC_FILE)).data
            if not _same_model(previous, loaded.self_contained()):
                raise RunError(
                    "the spec's model differs from the run's; a resumed run must train the same model",
                    hint=f"train it as a new run, or resume with the run's own spec: kerun train --resume {options.resume}",
                )
        except BaseException:
            run.unlock()  # refused: the folder is not held on (a warm worker's next job may resume it)
            raise
    elif options.run_dir is not None:
        run = _agreed_run_dir(loaded, Path(options.run_dir))
    else:
        run = RunDir.create(options.runs_dir, loaded.name, run_id=options.run_id, writer=_is_chief(loaded))
        fresh = run.writer
    try:
        if fresh:
            run.lock()
            run.write_text(SPEC_FILE, loaded.to_yaml())
        run.start(spec_path=loaded.path, overrides=loaded.overrides, seed=loaded.spec.seed,
                  extra={"data": _data_record(run, loaded)})
        from kerun.run.provenance import PACKAGES, installed_packages

        run.write_text(PACKAGES, installed_packages())
    except KerunError:
        if fresh:
            run.discard()  # a full disk at the start leaves no empty or manifest-less run folder
        raise
    t0 = time.perf_counter()
    from kerun.run.tracking import start_tracking

    tracker = start_tracking(loaded, run, options.runs_dir if fresh else run.path.parent.parent)  # None unless the spec asks
    if tracker is not None:  # every epoch's metrics to MLflow (kerun.run.tracking)
        from dataclasses import replace

        options = replace(options, callbacks=[*options.callbacks, tracker.callback()])
    session = TrainingSession(loaded, run, options)
    result: RunResult | None = None
    try:
        with _sigterm_as_interrupt():
            result = session.run()
    except KeyboardInterrupt:
        session.close()
        epochs = session.epochs_done()
        _record(run, "interrupted", "interrupted by the user or a signal", epochs)
        raise Interrupted(
            f"training interrupted after {epochs} complete epoch{'s' if epochs != 1 else ''}; the run is kept",
            hint=f"continue it with: kerun train --resume {run.path}",
        ) from None
    except KerunError as exc:
        session.close()
        _record(run, "failed", exc.render(), session.epochs_done())
        raise
    except Exception as exc:  # a bug in kerun's own code (or a plugin's): it keeps its traceback
        session.close()
        _record(run, "failed", f"internal error: {type(exc).__name__}: {exc}", session.epochs_done())
        _save_traceback(run, exc)
        raise
    finally:
        run.unlock()
        if tracker is not None and result is None:  # failed or interrupted: MLflow is told so, with the manifest
            tracker.close(run, None)
    result.seconds = time.perf_counter() - t0
    if result.status == "completed":  # the report its task calls for (kerun.run.tasks), as kerun eval writes it
        from kerun.run.evaluate import end_of_run_report

        end_of_run_report(run, loaded, result, steps=options.steps)
    if tracker is not None:  # the final metrics, the model, the run folder's files; the MLflow run ends
        tracker.close(run, result)
    return result


def _data_record(run: Any, loaded: LoadedSpec) -> list[dict[str, Any]]:
    """The data this start reads (kerun.run.provenance); a resumed or repeated run is told, on
    stderr and in the manifest, when it differs from what the run read before."""
    from kerun.run.provenance import data_changes, fingerprint_sources

    current = fingerprint_sources(loaded)
    changes = data_changes(run.manifest.get("data"), current)
    if changes:
        import sys

        print(f"kerun: warning: the data differs from what {run.path.name} read before:", file=sys.stderr)
        for line in changes:
            print(f"  {line}", file=sys.stderr)
        run.manifest["data_changed"] = [*run.manifest.get("data_changed", []), *changes]
    return current




def _save_traceback(run: Any, exc: BaseException) -> None:
    """The traceback of an error that is not a KerunError, in the run folder; Python prints it on
    screen too, followed by one line saying it is kerun's bug and where the copy is."""
    import traceback

    try:
        run.write_text(TRACEBACK_FILE, "".join(traceback.format_exception(exc)))
        where = f"; the traceback is saved in {run.file(TRACEBACK_FILE)}" if run.writer else ""
    except KerunError:  # a full disk: the traceback on screen is all there is
        where = ""
    exc.add_note(f"kerun: internal error: this is a bug in kerun or in a plugin, not a problem of the spec{where}")


def _record(run: Any, status: str, error: str, epochs: int) -> None:
    """Write the final status; if even that fails (a full disk), the original error still wins."""
    try:
        run.finish(status, error=error, epochs_completed=epochs)
    except KerunError:
        pass


def _agreed_run_dir(loaded: LoadedSpec, path: Path) -> Any:
    from kerun.run.rundir import MANIFEST, RunDir

    path = path.expanduser()
    chief = _is_chief(loaded)
    if (path / MANIFEST).is_file():
        run = RunDir.open(path)
        if run.manifest.get("status") == "completed":
            raise RunError(f"the run {path} ({RUN_DIR_ENV}) is complete; there is nothing to continue",
                           hint=f"unset {RUN_DIR_ENV} or point it to a new folder to train a new run")
        from kerun.spec.loader import load_document

        if not _same_model(load_document(run.file(SPEC_FILE)).data, loaded.self_contained()):
            raise RunError(f"the spec's model differs from the run's in {path} ({RUN_DIR_ENV})",
                           hint=f"point {RUN_DIR_ENV} to a new folder to train this spec")
        run.writer = chief
        if chief:
            run.remove_stale_temporaries()
        return run
    run = RunDir(path, {"run_id": path.name, "name": loaded.name, "status": "created"}, writer=chief)
    if chief:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create the run folder {path}: {exc.strerror or exc}") from None
        run.write_text(SPEC_FILE, loaded.to_yaml())
    return run


def _is_chief(loaded: LoadedSpec) -> bool:
    if loaded.spec.distribute.strategy != "multi_worker_mirrored":
        return True
    import json

    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    has_chief = "chief" in config.get("cluster", {})
    return kind == "chief" or (not has_chief and kind == "worker" and index == 0)
