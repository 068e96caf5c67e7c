"""One spec's smoke check, in a process of its own (run by ``kerun check``).

Prints ``KERUN_STAGE <stage>`` lines as it goes and writes a JSON report at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from kerun.errors import KerunError


def _problems(exc: KerunError) -> list[dict[str, Any]]:
    return [p.to_dict(parts=True) for p in exc.problems]  # read back by Problem.from_dict


def _first_batch_x(datasets: Any) -> Any:
    for split in ("validation", "test", "train"):
        ds = getattr(datasets, split, None)
        if ds is not None:
            for batch in ds.take(1):
                return batch[0]
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


def main(argv: list[str] | None = None) -> int:
    from kerun.orchestrate.lifeline import hold

    hold()
    parser = argparse.ArgumentParser(prog="kerun-check-worker")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args(argv)

    report: dict[str, Any] = {"result": "failed", "stage": "build", "message": None, "problems": [], "run_dir": None}

    def stage(name: str) -> None:
        report["stage"] = name
        print(f"KERUN_STAGE {name}", flush=True)

    try:
        from kerun.run.train import TrainOptions, train
        from kerun.spec import load_spec

        loaded = load_spec(args.spec, args.overrides)
        batch = loaded.spec.train.batch_size
        limit = max(batch * (args.steps + 2) * 2, 256)
        options = TrainOptions(
            runs_dir=args.runs_dir, progress="quiet", limit=limit, steps=args.steps, epochs=1,
            synthetic=args.synthetic, on_stage=stage,
        )
        result = train(loaded, options)
        report["run_dir"] = str(result.run_dir)
        stage("reload")
        import keras

        reloaded = keras.models.load_model(result.run_dir / "model.keras", safe_mode=True)
        x = _first_batch_x(result.datasets)
        if x is not None:
            diff = _compare(result.built.model.predict_on_batch(x), reloaded.predict_on_batch(x))
            if not diff <= 1e-5:
                raise KerunError(f"the saved model predicts differently from the trained one (largest difference {diff:.3g})")
        stage("evaluate")
        ds = result.datasets.validation or result.datasets.test or result.datasets.train
        values = reloaded.evaluate(ds, steps=args.steps, return_dict=True, verbose=0)
        report["metrics"] = {k: float(v) for k, v in values.items()}
        report["result"] = "passed"
    except KerunError as exc:
        report["message"] = exc.render()
        report["problems"] = _problems(exc) if exc.location is not None else []
    except BaseException as exc:  # a bug or a crash inside Keras: keep the traceback's tail
        report["message"] = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:])
    args.report.write_text(json.dumps(report), encoding="utf-8")
    return 0 if report["result"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
