"""``kerun eval``: a finished run's model, loaded again and measured on one of its splits.

The run folder's own ``spec.yaml`` says how data becomes inputs (relative paths resolve from the
folder of the spec the run was trained from); the model is loaded with Keras's ``safe_mode``, so a
saved model that carries Python code (a ``Lambda``) is refused. :func:`load_run` is shared with
``kerun predict`` and ``kerun export``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kerun.errors import DataError, RunError
from kerun.run.rundir import MODEL_FILE, RunDir
from kerun.spec import LoadedSpec

__all__ = ["evaluate_run", "load_run"]


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


def _from_logits(model: Any, loaded: LoadedSpec) -> bool:
    """Whether the single output's loss reads logits (``from_logits: true``): the compiled loss of
    the saved model, or the run's spec."""
    losses = [getattr(model, "loss", None), loaded.spec.compile.loss]
    for loss in losses:
        if isinstance(loss, dict) and "type" not in loss:
            loss = next(iter(loss.values()), None)
        elif isinstance(loss, (list, tuple)):
            loss = loss[0] if loss else None
        found = loss.get("from_logits") if isinstance(loss, dict) else getattr(loss, "from_logits", None)
        if found:
            return True
    return False


def _confusion(model: Any, ds: Any, output_names: list[str], *, logits: bool = False) -> tuple[list[list[int]], int] | None:
    """The confusion matrix of a single-output classifier, or None for anything else. A one-unit
    output is a probability thresholded at 0.5, or with ``logits`` a logit thresholded at 0
    (sigmoid(z) > 0.5 exactly when z > 0)."""
    if len(output_names) != 1:
        return None
    width = model.outputs[0].shape[-1]
    y_true: list[np.ndarray] = []
    y_pred: list[np.ndarray] = []
    for batch in ds:
        x, y = batch[0], batch[1]
        p = np.asarray(model.predict_on_batch(x))
        y = np.asarray(y)
        if width is None:
            return None
        if width == 1:
            if not logits and not np.all((p >= 0) & (p <= 1)):
                return None
            y_pred.append((p.reshape(-1) > (0.0 if logits else 0.5)).astype(int))
            y_true.append(y.reshape(-1).astype(int))
        else:
            y_pred.append(p.reshape(-1, width).argmax(axis=-1))
            y_true.append(y.reshape(-1, width).argmax(axis=-1) if y.ndim >= 2 and y.shape[-1] == width else y.reshape(-1).astype(int))
    if not y_true:
        return None
    t, pr = np.concatenate(y_true), np.concatenate(y_pred)
    if not np.allclose(t, np.round(t)):
        return None
    n = max(int(width if width and width > 1 else 2), int(t.max()) + 1, int(pr.max()) + 1)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (t.astype(int), pr.astype(int)), 1)
    return matrix.tolist(), n


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
    from kerun.run.plots import plot_confusion

    note = None
    if data_file is None:
        split, note = _choose_split(RunDir.open(run_dir).load_spec(), split)
    run, loaded, built = load_run(run_dir)
    label = split
    if data_file is not None:
        loaded = _with_source(loaded, data_file)
        split, label = "train", f"data-{data_file.stem}"
    logits = _from_logits(built.model, loaded)
    data = load_datasets(loaded, built)
    ds = getattr(data, split)
    if ds is None:  # pragma: no cover - _choose_split saw the spec's splits
        raise DataError(f"the run's spec has no {split} split")
    with data.errors.mapped():  # a ragged row deep in a streamed file is a DataError, as in training
        metrics = built.model.evaluate(ds, return_dict=True, verbose=0)
        confusion = _confusion(built.model, ds, built.output_names, logits=logits)
    result: dict[str, Any] = {"split": label, "examples": data.sizes.get(split), "metrics": {k: float(v) for k, v in metrics.items()}}
    if note:
        result["note"] = note
    if logits and confusion is not None and built.model.outputs[0].shape[-1] == 1:
        result["threshold"] = "logit > 0 (the loss has from_logits: true)"
    if confusion is not None:
        matrix, n = confusion
        names = data.class_names if data.class_names and len(data.class_names) == n else [str(i) for i in range(n)]
        result["confusion_matrix"] = {"labels": names, "matrix": matrix}
        run.write_with(f"confusion-{label}.png", lambda p: plot_confusion(
            matrix, names, p, title=f"{run.path.parent.name}/{run.path.name}: {label} ({sum(map(sum, matrix))} examples)"))
    run.write_json(f"eval-{label}.json", result)
    return result
