"""One training session: build, read data, adapt, compile, fit, save, evaluate, report."""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import keras

from kerun.model.model import BuiltModel, build_model
from kerun.model.objects import at, make_object
from kerun.model.runtime import runtime_errors
from kerun.errors import RunError
from kerun.run.callbacks import AtomicModelCheckpoint, HistoryWriter, NanGuard, Progress, kept_after_nan, weights_finite
from kerun.run.multiworker import ReadOnlyBackupAndRestore
from kerun.run.rundir import BACKUP, CURVES, METRICS, MODEL_FILE, SUMMARY, RunDir
from kerun.run.tracing import build_ahead
from kerun.spec import LoadedSpec
from kerun.spec.callback_paths import CALLBACK_PATHS, HINT as PATH_HINT, confine, path_problem

if TYPE_CHECKING:
    from kerun.run.options import RunResult, TrainOptions

__all__ = ["TrainingSession", "compile_model", "model_summary"]

# steps_per_execution when the spec says "auto": the most steps per call into TensorFlow that
# benchmarks/ showed paying off, capped at the steps of one epoch (see README, Performance).
AUTO_STEPS_PER_EXECUTION = 32


# The run's backup is written at the end of an epoch only once the time since the last backup is at
# least BACKUP_PACE times what that backup took, so backing up costs at most about 1/BACKUP_PACE of
# the training time. Saving every epoch took 56 ms per epoch on the digits MLP, longer than its
# 48 ms epochs, and halved its throughput (benchmarks/README.md, digits_mlp); paced, a resumed run
# repeats at most a second or so of such short epochs. The first epoch is always backed up.
BACKUP_PACE = 20


class PacedBackupAndRestore(keras.callbacks.BackupAndRestore):
    _last_end: float | None = None
    _last_cost = 0.0
    history: HistoryWriter | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        if self._last_end is not None and now - self._last_end < BACKUP_PACE * self._last_cost:
            self._current_epoch = epoch + 1
            self._last_batch_seen = 0
            return
        if not weights_finite(self.model):  # a NaN or infinite loss: keep the last good backup
            return
        if self.history is not None:
            self.history.flush_pending()  # the rows of the epochs backed up are on disk first
        super().on_epoch_end(epoch, logs)
        self._last_end = time.perf_counter()
        self._last_cost = self._last_end - now


def model_summary(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, line_break=True: lines.append(line), expand_nested=True, line_length=110)
    return "\n".join(lines) + "\n"


def _per_output(value: Any, kind: str, outputs: list[str], *, lists: bool) -> Any:
    if value is None:
        return None
    if isinstance(value, dict) and "type" not in value:
        out = {}
        for key, sub in value.items():
            if lists:
                sub = sub if isinstance(sub, list) else [sub]
                out[key] = [make_object(kind, s) for s in sub]
            else:
                out[key] = make_object(kind, sub)
        return out
    if isinstance(value, list):
        return [make_object(kind, v) for v in value]
    obj = make_object(kind, value)
    return [obj] if lists else obj


def compile_model(loaded: LoadedSpec, built: BuiltModel, *, steps_per_epoch: int | None) -> None:
    """``model.compile`` with the spec's settings; errors arrive at the compile section's line."""
    c = loaded.spec.compile
    doc = loaded.doc
    if c.loss is None and not built.trains_itself:  # a model with its own train_step may bring its loss
        raise RunError(
            "training needs a loss, and compile.loss is not set",
            location=doc.locate(("compile",)),
            path=("compile", "loss"),
            hint="for example loss: sparse_categorical_crossentropy",
        )
    with at(doc.locate(("compile", "optimizer")), ("compile", "optimizer"), "optimizer"):
        optimizer = make_object("optimizer", c.optimizer)
    with at(doc.locate(("compile", "loss")), ("compile", "loss"), "loss"):
        loss = _per_output(c.loss, "loss", built.output_names, lists=False)
    with at(doc.locate(("compile", "metrics")), ("compile", "metrics"), "metrics"):
        metrics = _per_output(c.metrics, "metric", built.output_names, lists=True)
    spe: Any = c.steps_per_execution
    import tensorflow as tf

    strategy = loaded.spec.distribute.strategy
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if strategy == "multi_worker_mirrored" or (strategy == "mirrored" and replicas > 1):
        # Keras 3's multi-step loop fails across workers, and across the replicas of one
        # machine's mirrored strategy ("You must feed a value for placeholder tensor ...
        # while/cond/Placeholder"): one step per call (kerun.run.multiworker).
        if spe not in ("auto", 1):
            several = "" if strategy == "multi_worker_mirrored" else f" with {replicas} replicas"
            raise RunError(
                f"compile.steps_per_execution: {strategy}{several} trains one step per call, got {spe}",
                location=doc.locate(("compile", "steps_per_execution")),
                path=("compile", "steps_per_execution"),
                hint="remove steps_per_execution or set it to 1 or auto",
            )
        spe = 1
    if spe == "auto":
        spe = min(AUTO_STEPS_PER_EXECUTION, steps_per_epoch) if steps_per_epoch else AUTO_STEPS_PER_EXECUTION
    with at(doc.locate(("compile",)), ("compile",), "compile"):
        built.model.compile(
            optimizer=optimizer,
            loss=loss,
            loss_weights=c.loss_weights,
            metrics=metrics,
            jit_compile=c.jit_compile,
            steps_per_execution=max(1, int(spe)),
        )


def _full_class_weight(weights: dict[int, float] | None, built: BuiltModel) -> dict[int, float] | None:
    """Classes the spec leaves out weigh 1.0, as users expect (Keras wants every class listed)."""
    if not weights:
        return None
    width = built.model.outputs[0].shape[-1] if len(built.model.outputs) == 1 else None
    classes = max(int(width or 1), 2, max(weights) + 1)
    return {c: float(weights.get(c, 1.0)) for c in range(classes)}


@contextlib.contextmanager
def _data_errors(data: Any) -> Iterator[None]:
    """A DataError raised inside a streaming input pipeline reaches fit as a TensorFlow error:
    turn it back into the located DataError, which ``data`` (the Datasets) recorded."""
    with data.errors.mapped():
        yield


class TrainingSession:
    def __init__(self, loaded: LoadedSpec, run: RunDir, options: "TrainOptions") -> None:
        self.loaded = loaded
        self.run_dir = run
        self.options = options
        self.history: HistoryWriter | None = None
        self.progress: Progress | None = None

    def stage(self, name: str) -> None:
        self.run_dir.phase(name)
        if self.options.on_stage is not None:
            self.options.on_stage(name)

    def epochs_done(self) -> int:
        return len(self.history.rows) if self.history else 0

    def close(self) -> None:
        if self.history is not None:
            self.history.flush_pending()
        if self.progress is not None:
            self.progress.close()

    # -- callbacks ---------------------------------------------------------------------------

    def _in_run(self, name: str, value: Any, key: str) -> str:
        """The callback's path inside the run folder (kerun.spec.callback_paths); a ModelCheckpoint
        template stays a template, its formatted path is checked again before each save."""
        problem = path_problem(name, value)
        if problem is None:
            try:
                target = confine(self.run_dir.path, str(value))
            except ValueError:
                problem = f"{value!r} would write outside the run folder"
        if problem is not None:
            raise RunError(f"{key}: {problem}", hint=PATH_HINT)
        if name == "ModelCheckpoint":
            return str(self.run_dir.path.resolve()).replace("{", "{{").replace("}", "}}") + "/" + str(value)
        return str(target)

    def user_callbacks(self) -> list[keras.callbacks.Callback]:
        out: list[keras.callbacks.Callback] = []
        doc = self.loaded.doc
        for i, cb in enumerate(self.loaded.spec.train.callbacks):
            path = ("train", "callbacks", i)
            config = {"type": cb} if isinstance(cb, str) else dict(cb)
            from kerun.spec import catalog

            info = catalog.lookup("callback", str(config["type"]))
            name = info.name if info else str(config["type"])
            with at(doc.locate(path), path, name):
                if name in CALLBACK_PATHS:
                    arg, default = CALLBACK_PATHS[name]
                    config[arg] = self._in_run(name, config.get(arg, default), f"train.callbacks[{i}].{arg}")
                if name == "ModelCheckpoint":
                    kwargs = {k: v for k, v in config.items() if k not in ("type", "filepath")}
                    if not self.run_dir.writer:
                        continue
                    out.append(AtomicModelCheckpoint(config["filepath"], root=self.run_dir.path, **kwargs))
                elif name == "BackupAndRestore":
                    continue  # every run has one already, in the run folder
                elif name in ("TensorBoard", "CSVLogger") and not self.run_dir.writer:
                    continue
                else:
                    try:
                        out.append(make_object("callback", config))
                    except ImportError as exc:  # OrbaxCheckpoint without orbax-checkpoint installed
                        what = f"the package {exc.name!r} is not installed" if exc.name else str(exc)
                        raise RunError(f"{name} cannot be used: {what}", location=doc.locate(path), path=path,
                                       hint="install the missing package, or remove the callback") from None
        return out

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> "RunResult":
        from kerun.data import load_datasets
        from kerun.run.distribute import strategy_scope
        from kerun.run.plots import plot_curves
        from kerun.run.options import RunResult

        loaded, run, options = self.loaded, self.run_dir, self.options
        spec = loaded.spec
        if spec.train.deterministic:
            # Bit-for-bit repeatable kernels (reductions in a fixed order), at some cost in speed.
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        with strategy_scope(loaded) as strategy:
            self.stage("build")
            built = build_model(loaded)
            self.stage("data")
            data = load_datasets(loaded, built, limit=options.limit, synthetic=options.synthetic)
            run.update(rows={k: v for k, v in data.sizes.items() if v is not None})  # examples per split
            if data.class_weight is not None:  # class_weight: balanced, as computed on the training split
                run.update(class_weight={str(k): v for k, v in data.class_weight.items()})
            self.stage("build")
            if built.adapt:
                # The first build told the data loader the model's inputs and outputs; this one
                # adapts each preprocessing layer on the training split before building the
                # layers after it (a one-hot lookup is as wide as its vocabulary).
                built = build_model(loaded, adapt_data=data.adapt)
            batch = spec.train.batch_size
            steps = options.steps or spec.train.steps_per_epoch
            train_size = data.sizes.get("train")
            steps_per_epoch = steps or (math.ceil(train_size / batch) if train_size else None)
            compile_model(loaded, built, steps_per_epoch=steps_per_epoch)
        # Where it trains (kerun.run.devices), and what jit_compile: auto became on those devices
        # (Keras's own choice: XLA on with a GPU, off on a CPU-only machine).
        from kerun.run.devices import describe_devices

        run.update(devices=describe_devices(strategy), jit_compile=bool(built.model.jit_compile),
                   dtype_policy=spec.model.dtype_policy)
        run.write_text(SUMMARY, model_summary(built.model))

        epochs = options.epochs or spec.train.epochs
        self.history = HistoryWriter(run)
        nan_guard = NanGuard()
        # Multi-worker: the chief alone writes the backup; the other workers restore from it.
        # double_checkpoint keeps the previous backup, for a kill in the middle of writing one.
        backup = (PacedBackupAndRestore if run.writer else ReadOnlyBackupAndRestore)(
            str(run.file(BACKUP)), save_freq="epoch", delete_checkpoint=False, double_checkpoint=True)
        if isinstance(backup, PacedBackupAndRestore):
            backup.history = self.history
        callbacks: list[keras.callbacks.Callback] = [
            # The history rows of the epochs backed up are written before the backup: a kill
            # between the two leaves rows the resume drops and trains again, never a backed-up
            # epoch without its row.
            self.history,
            backup,
            nan_guard,
            *self.user_callbacks(),
            *options.callbacks,
        ]
        if options.progress != "quiet":
            self.progress = Progress(epochs=epochs, steps=steps_per_epoch, batch_size=batch, mode=options.progress)
            callbacks.append(self.progress)
        train_data, fit_steps = data.train, steps
        if steps is None and steps_per_epoch and train_size:
            # One iterator for the whole run instead of one per epoch: Keras builds a new iterator
            # (and the pipeline its threads and buffers) at every epoch, which on short epochs cost
            # more than the training; repeated, with the epoch's exact step count, the batches and
            # the per-epoch reshuffle stay the same. Digits MLP, in-process: 2x the samples/s
            # (benchmarks/README.md, digits_mlp).
            train_data, fit_steps = data.train.repeat(), steps_per_epoch
        self.stage("train")
        build_ahead(built.model, train_data)  # the first step traced once, not twice (kerun.run.tracing)
        # Only TensorFlow's and Keras's errors become a RunError here (at the entry whose op failed,
        # the cause kept); a bug in kerun's own code (a callback) keeps its traceback.
        with runtime_errors(loaded.doc, built.entries, ("train",), "training"), _data_errors(data):
            built.model.fit(
                train_data,
                validation_data=data.validation,
                epochs=epochs,
                steps_per_epoch=fit_steps,
                validation_steps=spec.train.validation_steps if data.validation is not None else None,
                class_weight=_full_class_weight(data.class_weight if spec.train.class_weight == "balanced" else spec.train.class_weight, built),
                callbacks=callbacks,
                shuffle=False,  # the pipeline shuffles already (seeded); Keras warns otherwise
                verbose=0,
            )
        self.close()
        if nan_guard.reason:
            raise RunError(f"training stopped: {nan_guard.reason}",
                           hint="lower the learning rate, scale the inputs, or add clipnorm to the optimizer; "
                           + kept_after_nan(run, callbacks))
        self.stage("save")
        run.save_model(built.model, MODEL_FILE)
        reloaded = None
        if run.writer:  # what eval and predict will load, loaded once before the run is called completed
            from kerun.model.saving import check_reloads

            reloaded = check_reloads(built.model, run.file(MODEL_FILE))
        self.stage("evaluate")
        metrics: dict[str, dict[str, float]] = {}
        for split in ("train", "validation", "test"):
            ds = getattr(data, split)
            if ds is None:
                continue
            steps_eval = options.steps if options.steps else None
            with runtime_errors(loaded.doc, built.entries, ("train",), f"evaluating the {split} split"), _data_errors(data):
                values = built.model.evaluate(ds, steps=steps_eval, return_dict=True, verbose=0)
            metrics[split] = {k: float(v) for k, v in values.items()}
        run.write_json(METRICS, metrics)
        if run.writer and self.history.rows:
            with contextlib.suppress(Exception):  # a plot is a convenience; never fail a run on it
                run.write_with(CURVES, lambda p: plot_curves(self.history.rows, p, title=f"{run.path.parent.name}/{run.path.name}"))
        if run.writer:
            shutil.rmtree(run.file(BACKUP), ignore_errors=True)
        from kerun.run.pruning import outcome

        status, extra = outcome(options.callbacks)  # "pruned" by a sweep's pruner (kerun.run.pruning), whole all the same
        run.finish(status, epochs_completed=len(self.history.rows), metrics=metrics, **extra)
        return RunResult(run_dir=run.path, status=status, metrics=metrics, epochs=len(self.history.rows),
                         built=built, datasets=data, reloaded=reloaded)
