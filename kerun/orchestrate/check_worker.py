"""One spec's smoke check, the child's side of ``kerun check``: run in a warm worker
(:mod:`kerun.orchestrate.worker`), which tells the parent each stage reached and sends back the
report :func:`check_one` returns.
"""

from __future__ import annotations

import contextlib
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

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


TOLERANCE = 1e-5
FIXED_SEED = 1337


def _random_layers(model: Any) -> list[Any]:
    """The layers of ``model`` (nested ones too) that declare randomness: a ``SeedGenerator``
    attribute, which Keras tracks (``Dropout``, a VAE's sampling layer, ``RandomFlip`` ...)."""
    found: list[Any] = []
    for layer in [model, *model._flatten_layers(include_self=False, recursive=True)]:
        if getattr(layer, "_seed_generators", None) and not any(layer is f for f in found):
            found.append(layer)
    return found


def _seeded_call(model: Any, x: Any, states: list[Any]) -> Any:
    """``model(x)`` with every random draw fixed: the seed generators' states set to ``states``
    (taken from the trained model, in the same layer order) and the global seeds reset."""
    import keras

    generators = [g for layer in _random_layers(model) for g in layer._seed_generators]
    for generator, state in zip(generators, states):
        generator.state.assign(state)
    keras.utils.set_random_seed(FIXED_SEED)
    return model(x, training=False)


def _outputs(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {"output": value}


def compare_reloaded(trained: Any, reloaded: Any, x: Any) -> tuple[float, str | None]:
    """The largest difference between what the trained and the reloaded model predict for ``x``,
    and a note for the check report when randomness at inference had to be dealt with.

    First as they are; when they differ and the model declares random layers, again with every
    seed fixed (a sampling layer draws the same numbers in both). Outputs that still differ and
    depend on a random layer are not compared, provided the two models' weights are equal; the
    note says which. Anything else that differs is a reload that does not give the model back."""
    import numpy as np

    random = _random_layers(trained)
    states = [np.asarray(g.state) for layer in random for g in layer._seed_generators]
    diff = _compare(trained(x, training=False), reloaded(x, training=False))
    if diff <= TOLERANCE or not random:
        return diff, None
    named = [f"{type(layer).__name__} ({layer.name})" for layer in random if layer is not trained] or [type(trained).__name__]
    names = ", ".join(named) + (" draws" if len(named) == 1 else " draw")
    if len(_random_layers(reloaded)) == len(random):
        a, b = _outputs(_seeded_call(trained, x, states)), _outputs(_seeded_call(reloaded, x, states))
        diffs = {k: _compare(a[k], b[k]) for k in a}
        if max(diffs.values()) <= TOLERANCE:
            return max(diffs.values()), f"compared with the random seeds fixed: {names} random numbers at inference"
    else:
        a, b = _outputs(trained(x, training=False)), _outputs(reloaded(x, training=False))
        diffs = {k: _compare(a[k], b[k]) for k in a}
    same_weights = len(trained.weights) == len(reloaded.weights) and all(
        np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(trained.weights, reloaded.weights))
    if not same_weights:
        return max(diffs.values()), None
    skipped = [k for k, d in diffs.items() if d > TOLERANCE]
    kept = [d for k, d in diffs.items() if k not in skipped]
    return (max(kept) if kept else 0.0), (f"not compared: {', '.join(skipped)}, as {names} random numbers at inference "
                                          "(they differ even with the seeds fixed; the reloaded weights are equal)")


@contextlib.contextmanager
def graph_optimizer_off() -> Iterator[None]:
    """TensorFlow's graph optimizer (grappler) left out of the functions traced inside, and put back
    as it was. A check runs each traced function for two to five steps, and optimizing the graph
    first took longer than the steps (the examples: 13% of a check's time, up to 37% for an LSTM);
    a failing optimizer pass only logs and leaves the graph as it was, so a check sees the same
    errors either way."""
    import tensorflow as tf

    was = bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False))
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": was})


def check_one(spec: Path, runs_dir: Path, *, steps: int = 5, synthetic: bool = False, overrides: Sequence[str] = (),
              stage: Callable[[str], None] = lambda _s: None) -> dict[str, Any]:
    """Build, train ``steps`` steps, save, reload with ``safe_mode`` and compare, evaluate; the
    report: result (passed | failed), the last stage reached, message, problems, run folder."""
    with graph_optimizer_off():
        return _check_one(spec, runs_dir, steps=steps, synthetic=synthetic, overrides=overrides, stage=stage)


def _check_one(spec: Path, runs_dir: Path, *, steps: int, synthetic: bool, overrides: Sequence[str],
               stage: Callable[[str], None]) -> dict[str, Any]:
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
        # model.keras as training loaded it back (with safe_mode) before calling the run completed
        reloaded = result.reloaded
        x = _first_batch_x(result.datasets)
        if x is not None:
            # called eagerly: the same numbers as predict_on_batch without tracing two predict functions
            diff, note = compare_reloaded(result.built.model, reloaded, x)
            if not diff <= TOLERANCE:
                raise KerunError(f"the saved model predicts differently from the trained one (largest difference {diff:.3g})")
            report["message"] = note  # a passed check's note: how randomness at inference was compared
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
        import sys

        plugins = sys.modules.get("kerun.model.plugins")
        origin = plugins.origin_text(exc) if plugins is not None else ""  # raised by plugin code: where
        report["message"] = f"{origin}{type(exc).__name__}: {exc}\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:])
    return report
