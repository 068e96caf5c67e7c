"""One spec's smoke check, the child's side of ``kerun check``: run in a warm worker
(:mod:`kerun.orchestrate.worker`), which tells the parent each stage reached and sends back the
report :func:`check_one` returns.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

from kerun.errors import KerunError


def _problems(exc: KerunError) -> list[dict[str, Any]]:
    return [p.to_dict(parts=True) for p in exc.problems]  # read back by Problem.from_dict


def _first_batch_x(datasets: Any) -> Any:
    for split in ("validation", "test", "train"):
        ds = getattr(datasets, split, None)
        if ds is not None:
            for batch in ds.take(1):
                return batch[0] if isinstance(batch, tuple) else batch  # inputs alone: a model that trains itself
    return None


def _compare(a: Any, b: Any) -> float:
    import numpy as np

    if isinstance(a, dict):
        return max(_compare(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return max(_compare(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def check_one(spec: Path, runs_dir: Path, *, steps: int = 5, synthetic: bool = False, overrides: Sequence[str] = (),
              stage: Callable[[str], None] = lambda _s: None) -> dict[str, Any]:
    """Build, train ``steps`` steps, save, reload with ``safe_mode`` and compare, evaluate; the
    report: result (passed | failed), the last stage reached, message, problems, run folder."""
    report: dict[str, Any] = {"result": "failed", "stage": "build", "message": None, "problems": [], "run_dir": None}

    def reached(name: str) -> None:
        report["stage"] = name
        stage(name)

    try:
        from kerun.run.train import TrainOptions, train
        from kerun.spec import load_spec

        loaded = load_spec(spec, overrides)
        batch = loaded.spec.train.batch_size
        limit = max(batch * (steps + 2) * 2, 256)
        options = TrainOptions(
            runs_dir=runs_dir, progress="quiet", limit=limit, steps=steps, epochs=1,
            synthetic=synthetic, on_stage=reached,
        )
        result = train(loaded, options)
        report["run_dir"] = str(result.run_dir)
        reached("reload")
        import keras

        reloaded = keras.models.load_model(result.run_dir / "model.keras", safe_mode=True)
        x = _first_batch_x(result.datasets)
        if x is not None:
            # called eagerly: the same numbers as predict_on_batch without tracing two predict functions
            diff = _compare(result.built.model(x, training=False), reloaded(x, training=False))
            if not diff <= 1e-5:
                raise KerunError(f"the saved model predicts differently from the trained one (largest difference {diff:.3g})")
        reached("evaluate")
        ds = result.datasets.validation or result.datasets.test or result.datasets.train
        # A few steps run eagerly: the same metrics, without tracing a test function for them
        # (0.7 s against 1.4-1.7 s on iris_mlp and toy_resnet, 0.2 s against 1.0 s on digits_cnn).
        reloaded.run_eagerly = True
        values = reloaded.evaluate(ds, steps=steps, return_dict=True, verbose=0)
        report["metrics"] = {k: float(v) for k, v in values.items()}
        report["result"] = "passed"
    except KerunError as exc:
        report["message"] = exc.render()
        report["problems"] = _problems(exc) if exc.location is not None else []
    except BaseException as exc:  # a bug or a crash inside Keras: keep the traceback's tail
        report["message"] = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:])
    return report
