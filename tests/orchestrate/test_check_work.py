"""What one spec's check no longer does twice or for nothing (issue 18), in this process: the model is
loaded back once, its training graphs are not optimized for the few steps they run, and the report
of a smoke run calls the model rather than tracing a predict function. The speed itself is measured
by ``benchmarks/workers.py``, never here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerun_testing import small_spec

pytestmark = pytest.mark.tf


def _optimizer_off() -> bool:
    import tensorflow as tf

    return bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False))


def test_a_check_loads_the_saved_model_once_with_grappler_off_and_puts_it_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    from kerun.orchestrate.check_worker import check_one

    loads: list[Any] = []
    load = keras.models.load_model
    monkeypatch.setattr(keras.models, "load_model", lambda *a, **k: loads.append(a) or load(*a, **k))
    seen: dict[str, bool] = {}
    assert not _optimizer_off()
    report = check_one(small_spec(tmp_path), tmp_path / "runs", steps=2, stage=lambda name: seen.setdefault(name, _optimizer_off()))
    assert report["result"] == "passed", report["message"]
    assert len(loads) == 1  # training's own load before the run is completed is the one compared
    assert seen["train"] and seen["reload"]  # no graph optimization while the check's functions are traced
    assert not _optimizer_off()  # and as it was afterwards: a sweep trial in the same worker optimizes


def test_the_model_training_loaded_back_is_the_saved_one_not_the_trained_one(tmp_path: Path) -> None:
    from kerun.run.options import TrainOptions
    from kerun.run.train import train_file

    result = train_file(small_spec(tmp_path, epochs=1), [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert result.status == "completed" and result.reloaded is not None
    assert result.reloaded is not result.built.model
    assert [w.shape for w in result.reloaded.weights] == [w.shape for w in result.built.model.weights]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(result.reloaded.weights, result.built.model.weights))


def test_a_smoke_report_calls_the_model_and_counts_as_predict_would(tmp_path: Path) -> None:
    from kerun.run import evaluate
    from kerun.run.options import TrainOptions
    from kerun.run.train import train_file
    from kerun.spec import load_spec

    spec = small_spec(tmp_path, epochs=1)
    result = train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    model, ds = result.built.model, result.datasets.test
    args = (ds, load_spec(spec), result.built.output_names, result.datasets.class_names)
    model.predict_function = None
    smoke = evaluate.task_reports(model, *args, steps=evaluate.EAGER_STEPS)
    assert model.predict_function is None  # nothing traced for the few batches
    full = evaluate.task_reports(model, *args, steps=evaluate.EAGER_STEPS + 1)
    assert model.predict_function is not None
    batches = sum(1 for _ in ds)
    assert batches <= evaluate.EAGER_STEPS  # the same batches counted both ways
    assert smoke == full
