"""``kerun eval``: a finished run's model, loaded again and measured on one of its splits.

The run folder's own ``spec.yaml`` says how data becomes inputs (relative paths resolve from the
folder of the spec the run was trained from); the model is loaded with Keras's ``safe_mode``, so a
saved model that carries Python code (a ``Lambda``) is refused. :func:`load_run` is shared with
``kerun predict`` and ``kerun export``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from kerun.errors import DataError, RunError
from kerun.run.eval_report import accumulator
from kerun.run.rundir import MODEL_FILE, RunDir
from kerun.run.tracing import build_ahead
from kerun.run.tasks import OutputFacts, Task, choose_task, loss_name, whole_numbers
from kerun.spec import LoadedSpec

__all__ = ["end_of_run_report", "evaluate_run", "load_run", "output_facts", "task_reports", "write_reports"]


def load_run(run_dir: Path) -> tuple[RunDir, LoadedSpec, Any]:
    """The run, its spec as used, and a BuiltModel around its saved model."""
    from kerun.tfenv import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from kerun.model.model import BuiltModel, trains_itself
    from kerun.model.plugins import load_plugins

    run = RunDir.open(run_dir)
    loaded = run.load_spec()
    model_path = run.file(MODEL_FILE)
    if not model_path.is_file():
        raise RunError(
            f"the run {run_dir} has no {MODEL_FILE} (status: {run.manifest.get('status')})",
            hint="only a completed run has a final model; resume it with kerun train --resume",
        )
    load_plugins(loaded)
    with open(model_path, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"\x89HDF"):  # Keras would say "File not found"
        raise RunError(f"{model_path} is an HDF5 (.h5) file, not the .keras archive kerun saves",
                       hint="kerun import turns an .h5 model into a spec and weights; train that")
    if not magic.startswith(b"PK"):
        raise RunError(f"{model_path} is not a .keras archive (a zip file)", hint="train the run again, or resume it")
    try:
        model = keras.models.load_model(model_path, safe_mode=True, compile=True)
    except (ValueError, TypeError, OSError, KeyError, AttributeError, IndexError, EOFError) as exc:
        # a model file edited or damaged by hand (its config lacks 'name', a layer is not a mapping)
        detail = f"{type(exc).__name__}: {exc}" if isinstance(exc, (KeyError, AttributeError, IndexError)) else str(exc)
        raise RunError(f"cannot load {model_path}: {detail[:500]}") from None
    spec_model = loaded.spec.model
    if trains_itself(model):  # fitted as itself (kerun.model.model): its own test_step, no targets
        return run, loaded, BuiltModel(model=model, input_names=list(spec_model.inputs), output_names=[], trains_itself=True)
    outputs = spec_model.output_names() or list(getattr(model, "output_names", []) or ["output"])
    built = BuiltModel(model=model, input_names=list(spec_model.inputs), output_names=outputs)
    return run, loaded, built


def _with_source(loaded: LoadedSpec, source_file: Path) -> LoadedSpec:
    """The run's spec with ``data.train`` replaced by the source in ``source_file`` and no hold-outs."""
    from kerun.spec import dump_yaml, spec_from_text
    from kerun.spec.loader import load_document

    source = load_document(source_file).data
    data = dict(loaded.data)
    data["data"] = {**data.get("data", {}), "train": source}
    data["data"].pop("validation", None)
    data["data"].pop("test", None)
    text = dump_yaml(data)
    return spec_from_text(text, file=str(source_file.resolve()))


def _output_losses(model: Any, loaded: LoadedSpec, names: list[str]) -> list[Any]:
    """Each output's loss: the run's spec (a name, a ``{type: ...}``, by output name or in order),
    else the saved model's compiled loss."""
    for loss in (loaded.spec.compile.loss, getattr(model, "loss", None)):
        if loss is None:
            continue
        if isinstance(loss, dict) and "type" not in loss:
            return [loss.get(n) for n in names]
        if isinstance(loss, (list, tuple)):
            return [loss[i] if i < len(loss) else None for i in range(len(names))]
        return [loss] * len(names)
    return [None] * len(names)


def _logits(loss: Any) -> bool:
    """Whether a loss reads logits (``from_logits: true``)."""
    if isinstance(loss, dict):
        return bool(loss.get("from_logits"))
    found = getattr(loss, "from_logits", None)
    if found is None and hasattr(loss, "get_config"):
        try:
            found = loss.get_config().get("from_logits")
        except (TypeError, NotImplementedError, AttributeError):
            found = None
    return bool(found)


def _activation(tensor: Any) -> str | None:
    """The activation of the layer that made an output (through a sub-model's own output)."""
    import keras

    for _ in range(8):
        history = getattr(tensor, "_keras_history", None)
        op = getattr(history, "operation", None)
        if op is None:
            return None
        if isinstance(op, keras.Model) and getattr(op, "outputs", None):
            tensor = op.outputs[min(history.tensor_index, len(op.outputs) - 1)]
            continue
        if type(op).__name__ == "Softmax":
            return "softmax"
        act = getattr(op, "activation", None)
        return getattr(act, "__name__", None) if act is not None else None
    return None


def _parts(value: Any, names: list[str], order: list[str] | None = None) -> list[np.ndarray]:
    """One array per name: from a dict by name, from a list in ``order`` (the model's own output
    order, which need not be the spec's: Keras sorts a dict of outputs by name)."""
    if isinstance(value, dict):
        return [np.asarray(value[n]) for n in names]
    if isinstance(value, (list, tuple)):
        if order and len(order) == len(value) and set(names) <= set(order):
            return [np.asarray(value[order.index(n)]) for n in names]
        return [np.asarray(v) for v in value]
    return [np.asarray(value)]


def _model_order(model: Any) -> list[str]:
    return list(getattr(model, "output_names", None) or [])


def _is_input(y: np.ndarray, x: Any) -> bool:
    xs = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    return any(np.shape(v) == y.shape and np.array_equal(np.asarray(v), y) for v in xs)


def output_facts(model: Any, loaded: LoadedSpec, names: list[str], x: Any, y: Any) -> list[OutputFacts]:
    """The facts of each output (:class:`kerun.run.tasks.OutputFacts`) from the model, the run's
    spec and one batch of data."""
    losses = _output_losses(model, loaded, names)
    targets = _parts(y, names)
    order = _model_order(model)
    facts = []
    for i, name in enumerate(names):
        t = targets[i]
        out = model.outputs[order.index(name) if name in order and len(order) == len(model.outputs) else i]
        facts.append(OutputFacts(
            name=name, shape=tuple(out.shape[1:]), target_shape=tuple(t.shape[1:]),
            activation=_activation(out), loss=loss_name(losses[i]), from_logits=_logits(losses[i]),
            target_integer=whole_numbers(t), target_is_input=_is_input(t, x)))
    return facts


EAGER_STEPS = 5
"""A smoke run's report (``kerun check``: 2-5 steps) calls the model eagerly on its few batches:
tracing a predict function took longer than the batches (the model's training and test steps are
traced already, so nothing goes unchecked)."""


def _eager_predict(model: Any) -> Callable[[Any], Any]:
    """``model.predict_on_batch`` without tracing: the model called with ``training=False``, its
    outputs as NumPy arrays in the same structure."""
    import keras

    return lambda x: keras.tree.map_structure(keras.ops.convert_to_numpy, model(x, training=False))


def task_reports(model: Any, ds: Any, loaded: LoadedSpec, names: list[str], class_names: list[str] | None = None,
                 *, steps: int | None = None) -> list[dict[str, Any]]:
    """One report per output (:mod:`kerun.run.tasks` chooses which, :mod:`kerun.run.eval_report`
    counts), over the batches of ``ds`` (at most ``steps``)."""
    accumulators: list[Any] = []
    tasks: list[Task] = []
    predict = _eager_predict(model) if steps is not None and steps <= EAGER_STEPS else model.predict_on_batch
    for n, batch in enumerate(ds):
        if steps is not None and n >= steps:
            break
        x, y = batch[0], batch[1]
        predicted = _parts(predict(x), names, _model_order(model))
        truth = _parts(y, names)
        if not tasks:
            tasks = [choose_task(f) for f in output_facts(model, loaded, names, x, y)]
            accumulators = [accumulator(t, name) for t, name in zip(tasks, names)]
        for acc, t, p in zip(accumulators, truth, predicted):
            acc.add(t, p)
    reports = []
    for name, task, acc in zip(names, tasks, accumulators):
        labels = class_names if task.per_class and len(names) == 1 else None
        reports.append({"output": name, "task": task.kind, "why": task.why, **acc.report(labels)})
    return reports


def write_reports(run: RunDir, result: dict[str, Any], label: str) -> None:
    """``eval-LABEL.json``, every per-class table as CSV (``eval-LABEL[-OUTPUT]-classes.csv``), a
    confusion-matrix picture per classifier output, each written atomically."""
    from kerun.run.plots import plot_confusion

    several = len(result.get("reports", [])) > 1
    for report in result.get("reports", []):
        tag = f"{label}-{report['output']}" if several else label
        files = []
        if report.get("classes"):
            files.append(f"eval-{tag}-classes.csv")
            run.write_text(files[-1], classes_csv(report["classes"]))
        cm = report.get("confusion_matrix")
        if cm is not None and report["task"] in ("binary", "multiclass", "many-classes", "segmentation", "sequence"):
            files.append(f"confusion-{tag}.png")
            unit = _counted(report)
            title = f"{run.path.parent.name}/{run.path.name}: {tag} ({sum(map(sum, cm['matrix']))} {unit})"
            run.write_with(files[-1], lambda p, cm=cm, title=title, unit=unit: plot_confusion(
                cm["matrix"], cm["labels"], p, title=title, unit=unit))
        report["files"] = files
    run.write_json(f"eval-{label}.json", result)


def _counted(report: dict[str, Any]) -> str:
    return {"segmentation": "pixels", "sequence": "steps"}.get(report["task"], "examples")


def classes_csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    keys = list(rows[0])
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return out.getvalue()


def _choose_split(loaded: LoadedSpec, split: str) -> tuple[str, str | None]:
    """The split to evaluate, decided from the run's spec before TensorFlow loads: the one asked
    for; for ``test`` (the default) on a run without one, the validation split, with a note."""
    data = loaded.spec.data
    have = ["train"] + [s for s in ("validation", "test") if data is not None and getattr(data, s) is not None]
    if split in have:
        return split, None
    if split == "test" and "validation" in have:
        return "validation", "the run has no test split: evaluated on its validation split"
    raise DataError(f"the run's spec has no {split} split" + (" and no validation split" if split == "test" else ""),
                    hint=f"splits available: {', '.join(have)} (--split); or give --data SOURCE.yaml")


def evaluate_run(run_dir: Path, *, split: str = "test", data_file: Path | None = None) -> dict[str, Any]:
    """Metrics of the run's model on one split (or on another source); written into the run.

    ``split`` is test (the default: on a run without a test split, its validation split, and the
    result's ``note`` says so), validation or train."""
    from kerun.data import load_datasets

    note = None
    if data_file is None:
        split, note = _choose_split(RunDir.open(run_dir).load_spec(), split)
    run, loaded, built = load_run(run_dir)
    label = split
    if data_file is not None:
        loaded = _with_source(loaded, data_file)
        split, label = "train", f"data-{data_file.stem}"
    data = load_datasets(loaded, built)
    ds = getattr(data, split)
    if ds is None:  # pragma: no cover - _choose_split saw the spec's splits
        raise DataError(f"the run's spec has no {split} split")
    with data.errors.mapped():  # a ragged row deep in a streamed file is a DataError, as in training
        build_ahead(built.model, ds)  # the test step traced once, not twice
        metrics = built.model.evaluate(ds, return_dict=True, verbose=0)
        reports = task_reports(built.model, ds, loaded, built.output_names, data.class_names) if built.output_names else []
    result = _result(label, data.sizes.get(split), metrics, reports, built, loaded, note=note)
    write_reports(run, result, label)
    return result


def _result(label: str, examples: int | None, metrics: dict[str, Any], reports: list[dict[str, Any]], built: Any,
            loaded: LoadedSpec, *, note: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"split": label, "examples": examples, "metrics": {k: float(v) for k, v in metrics.items()}}
    if note:
        result["note"] = note
    if reports:
        result["reports"] = reports
    if len(reports) == 1 and reports[0]["task"] in ("binary", "multiclass", "many-classes") and "confusion_matrix" in reports[0]:
        result["confusion_matrix"] = reports[0]["confusion_matrix"]  # the single classifier's, as before
        if reports[0]["task"] == "binary" and built.model.outputs[0].shape[-1] == 1 and _logits(_output_losses(built.model, loaded, built.output_names)[0]):
            result["threshold"] = "logit > 0 (the loss has from_logits: true)"
    return result


def end_of_run_report(run: RunDir, loaded: LoadedSpec, result: Any, *, steps: int | None = None) -> str | None:
    """After training, the report of the held-out split (test, else validation) written as
    ``eval-SPLIT.json`` as ``kerun eval`` would write it; the split's name, or None (no held-out
    split, a model that trains itself, a worker that is not the chief, a run under a tf.distribute
    strategy)."""
    built, data = result.built, result.datasets
    if not run.writer or built is None or data is None or not built.output_names:
        return None
    if loaded.spec.distribute.strategy != "default":
        # Under a tf.distribute strategy a prediction is a step of every replica (and, multi-worker,
        # of every worker, which have left by now); kerun eval RUN reports it in a plain process.
        return None
    split = next((s for s in ("test", "validation") if getattr(data, s, None) is not None and s in result.metrics), None)
    if split is None:
        return None
    with data.errors.mapped():
        reports = task_reports(built.model, getattr(data, split), loaded, built.output_names, data.class_names, steps=steps)
    write_reports(run, _result(split, data.sizes.get(split), result.metrics[split], reports, built, loaded), split)
    return split


def stored_report(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The ``eval-SPLIT.json`` of the run's held-out split (test, else validation), as written by
    :func:`end_of_run_report` or ``kerun eval``; None when there is none or it cannot be read."""
    import json

    for split in ("test", "validation"):
        path = Path(run_dir) / f"eval-{split}.json"
        if split in metrics and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return data if isinstance(data, dict) else None
    return None
