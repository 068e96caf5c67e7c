"""``kerun export``: a run's trained model as a SavedModel, a TFLite (LiteRT) file or an ONNX file.

Every format goes through Keras's own ``Model.export`` (``tf_saved_model``, ``litert``, ``onnx``;
Keras drives ``tf2onnx`` for ONNX and TensorFlow's TFLite converter for LiteRT). The artifact is
written beside its destination, loaded back with the runtime that serves it
(``tf.saved_model.load``, the LiteRT interpreter, ``onnxruntime.InferenceSession``), run on a few
seeded inputs, and compared with the Keras model's own outputs; only an artifact within the
tolerance below is moved into place.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerun.interop import InteropError

__all__ = ["FORMATS", "TOLERANCES", "ExportResult", "export_model", "export_run"]

#: kerun's format name -> Keras's ``Model.export`` format.
FORMATS = {"saved_model": "tf_saved_model", "tflite": "litert", "onnx": "onnx"}
#: (rtol, atol) each artifact must meet against the Keras model, element by element as numpy's allclose.
TOLERANCES = {"saved_model": (1e-5, 1e-6), "tflite": (1e-4, 1e-5), "onnx": (1e-4, 1e-5)}
DEFAULT_NAMES = {"saved_model": "saved_model", "tflite": "model.tflite", "onnx": "model.onnx"}
ONNX_EXTRA = "pip install 'kerun[onnx]'  (tf2onnx, onnx, onnxruntime)"


@dataclass
class ExportResult:
    path: str
    format: str
    samples: int
    max_abs_diff: float
    rtol: float
    atol: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _require_onnx() -> None:
    missing = [m for m in ("tf2onnx", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise InteropError(f"ONNX export needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed",
                           hint=f"install the optional extra: {ONNX_EXTRA}")


def sample_inputs(model: Any, samples: int, seed: int) -> Any:
    """Seeded inputs in the structure the model takes: one array, or a dict by input name."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for t in model.inputs:
        name = getattr(getattr(t, "_keras_history", None), "operation", None)
        name = name.name if name is not None else t.name
        dtype = str(t.dtype)
        shape = (samples, *[d if d is not None else 8 for d in t.shape[1:]])
        if "string" in dtype:
            raise InteropError(f"the model's input {name!r} takes strings; kerun export checks numeric inputs only",
                               hint="export the model without its text preprocessing layers")
        if "int" in dtype:
            arrays[name] = rng.integers(0, 2, size=shape).astype(dtype)
        elif dtype == "bool":
            arrays[name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            arrays[name] = rng.normal(size=shape).astype(dtype)
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


def _as_dict(out: Any, names: list[str]) -> dict[str, np.ndarray]:
    if isinstance(out, dict):
        return {str(k): np.asarray(v) for k, v in out.items()}
    if isinstance(out, (list, tuple)):
        return {n: np.asarray(v) for n, v in zip(names, out)}
    return {names[0]: np.asarray(out)}


def _match(got: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """Outputs of an artifact keyed by the model's output names (by position when renamed)."""
    if set(names) <= set(got):
        return {n: got[n] for n in names}
    keys = list(got)
    if len(keys) == len(names) == 1:
        return {names[0]: got[keys[0]]}
    ordered = sorted(keys, key=lambda k: (len(k), k))  # output_0, output_1 ... output_10
    return dict(zip(names, (got[k] for k in ordered)))


def _feeds(x: Any, wanted: list[str]) -> dict[str, np.ndarray]:
    """Inputs by the artifact's own input names (a single input may be called anything)."""
    if not isinstance(x, dict):
        return {wanted[0]: x}
    out = {}
    for name in wanted:
        key = next((k for k in x if name == k or name.startswith(f"serving_default_{k}:") or name.split(":")[0] == k), None)
        if key is None:
            raise InteropError(f"the exported model's input {name!r} matches none of the model's inputs ({', '.join(x)})")
        out[name] = x[key]
    return out


def _run_saved_model(path: Path, x: Any, names: list[str]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    restored = tf.saved_model.load(str(path))
    return _match(_as_dict(restored.serve(x), names), names)


def _run_tflite(path: Path, x: Any, names: list[str]) -> dict[str, np.ndarray]:
    try:
        from ai_edge_litert.interpreter import Interpreter  # the LiteRT runtime, where installed
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    inputs = list(interpreter.get_signature_list()["serving_default"]["inputs"])
    try:
        result = runner(**_feeds(x, inputs))
    except RuntimeError as exc:
        text = str(exc)
        if "Select TensorFlow op" in text or "Flex" in text:
            ops = sorted(set(re.findall(r"\bFlex\w+", text)))
            raise InteropError(f"the TFLite model needs TensorFlow ops outside the TFLite builtins ({', '.join(ops) or 'Flex ops'}), "
                               "which the LiteRT interpreter here cannot run, so it cannot be checked",
                               hint="recurrent layers (LSTM, GRU) convert to such ops; export this model as saved_model or onnx") from None
        raise InteropError(f"the TFLite model cannot be run: {text.splitlines()[0] if text else type(exc).__name__}") from None
    return _match({k: np.asarray(v) for k, v in result.items()}, names)


def _run_onnx(path: Path, x: Any, names: list[str]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    values = session.run(None, _feeds(x, inputs))
    return _match({n.split(":")[0]: np.asarray(v) for n, v in zip(outputs, values)}, names)


def _onnx_extra_inputs(path: Path, model: Any) -> list[str]:
    """Graph inputs beyond the model's own: tf2onnx leaves tensors a layer keeps outside its
    variables (an adapted Normalization's mean and variance) as inputs when converting a function."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    return inputs[len(model.inputs):] if len(inputs) > len(model.inputs) else []


def _onnx_via_saved_model(model: Any, target: Path, work: Path) -> None:
    """The other well-kept route: Keras's SavedModel export, then tf2onnx's SavedModel converter."""
    import subprocess
    import sys

    saved = work / "saved_model_for_onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(str(saved), format="tf_saved_model", verbose=False)
    target.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved), "--output", str(target)],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if proc.returncode != 0 or not target.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InteropError(f"onnx export failed: tf2onnx could not convert the SavedModel: {tail[0]}")


_RUNNERS = {"saved_model": _run_saved_model, "tflite": _run_tflite, "onnx": _run_onnx}


def export_model(model: Any, fmt: str, target: Path, *, output_names: list[str] | None = None,
                 samples: int = 4, seed: int = 0) -> ExportResult:
    """Export ``model`` to ``target`` in ``fmt``, load it back and compare it with the model."""
    if fmt not in FORMATS:
        raise InteropError(f"unknown export format {fmt!r}", hint=f"formats: {', '.join(FORMATS)}")
    if fmt == "onnx":
        _require_onnx()
    if fmt == "tflite" and target.suffix != ".tflite":
        raise InteropError(f"a TFLite file's name ends in .tflite, got {target}")
    start = time.monotonic()
    names = list(output_names or getattr(model, "output_names", None) or ["output"])
    x = sample_inputs(model, samples, seed)
    want = _as_dict(model(x, training=False), names)
    want = _match(want, names)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp = tmp_dir / target.name
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.export(str(tmp), format=FORMATS[fmt], verbose=False)
        except ImportError as exc:
            raise InteropError(f"{fmt} export failed: {exc}", hint=f"install the optional extra: {ONNX_EXTRA}" if fmt == "onnx" else None) from None
        except Exception as exc:  # a converter's own errors are not builtins
            text = str(exc).strip().splitlines()
            raise InteropError(f"{fmt} export failed: {type(exc).__name__}: {text[0] if text else ''}") from None
        if fmt == "onnx" and _onnx_extra_inputs(tmp, model):
            _onnx_via_saved_model(model, tmp, tmp_dir)
        got = _RUNNERS[fmt](tmp, x, names)
        rtol, atol = TOLERANCES[fmt]
        worst = 0.0
        for n in names:
            w, g = want[n], got.get(n)
            if g is None or g.shape != w.shape:
                raise InteropError(f"the exported {fmt} model's output {n!r} has shape {None if g is None else g.shape}, "
                                   f"the Keras model's {w.shape}")
            diff = np.abs(g.astype("float64") - w.astype("float64"))
            worst = max(worst, float(diff.max()) if diff.size else 0.0)
            if not np.allclose(g, w, rtol=rtol, atol=atol):
                raise InteropError(f"the exported {fmt} model disagrees with the Keras model on output {n!r}: "
                                   f"max abs difference {float(diff.max()):.3g} (tolerance rtol={rtol}, atol={atol})")
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return ExportResult(path=str(target), format=fmt, samples=samples, max_abs_diff=worst, rtol=rtol, atol=atol,
                        seconds=round(time.monotonic() - start, 2))


def export_run(run_dir: Path, fmt: str, output: Path | None = None, *, samples: int = 4, seed: int = 0) -> ExportResult:
    """Export a run's final model; by default into ``RUN_DIR/export/``."""
    if fmt not in FORMATS:
        raise InteropError(f"unknown export format {fmt!r}", hint=f"formats: {', '.join(FORMATS)}")
    if fmt == "onnx":
        _require_onnx()
    from kerun.run.evaluate import load_run

    run, _loaded, built = load_run(run_dir)
    target = output if output is not None else run.path / "export" / DEFAULT_NAMES[fmt]
    return export_model(built.model, fmt, target, output_names=built.output_names, samples=samples, seed=seed)
