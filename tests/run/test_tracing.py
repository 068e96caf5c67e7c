"""The first train and test steps traced once (kerun.run.tracing): the state Keras would create
inside the first traced step is built before it, with the same numbers as without."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerun_testing import small_spec, small_spec_text
from kerun.run.evaluate import evaluate_run
from kerun.run.tracing import build_ahead
from kerun.run.train import TrainOptions, train_file


class _CountsTraining(keras.layers.Layer):
    """Counts its calls with training=True: in a traced step, one per trace (Python runs only then)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training_calls = 0

    def call(self, x: Any, training: bool | None = None) -> Any:
        if training:
            self.training_calls += 1
        return x


def _model_and_data() -> tuple[keras.Model, _CountsTraining, tf.data.Dataset]:
    keras.utils.set_random_seed(1)
    counter = _CountsTraining()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(counter(keras.layers.Dense(8)(inputs))))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices((rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32))).batch(8)
    return model, counter, data


def test_the_first_train_step_is_traced_once() -> None:
    model, counter, data = _model_and_data()
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    assert counter.training_calls == 2, "Keras traced its first step once by itself: kerun.run.tracing may go"

    model, counter, data = _model_and_data()
    assert build_ahead(model, data)
    assert model.optimizer.built and counter.training_calls == 0  # built symbolically, with training=False
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    assert counter.training_calls == 1


def test_built_ahead_the_weights_are_those_keras_gives() -> None:
    model, _, data = _model_and_data()
    model.fit(data, epochs=2, verbose=0, shuffle=False)
    theirs = [np.asarray(v) for v in model.weights]
    model, _, data = _model_and_data()
    build_ahead(model, data)
    model.fit(data, epochs=2, verbose=0, shuffle=False)
    assert len(theirs) == len(model.weights)
    for a, b in zip(theirs, model.weights):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_a_model_with_its_own_step_is_left_to_keras() -> None:
    class OwnStep(keras.Model):
        def train_step(self, data: Any) -> Any:
            return super().train_step(data)

    inputs = keras.Input((4,))
    model = OwnStep(inputs, keras.layers.Dense(3)(inputs))
    model.compile(optimizer="adam", loss="mse")
    data = tf.data.Dataset.from_tensor_slices((np.zeros((8, 4), "float32"), np.zeros((8, 3), "float32"))).batch(4)
    assert not build_ahead(model, data)
    assert not model.optimizer.built
    assert not build_ahead(_model_and_data()[0], np.zeros((8, 4)))  # not a tf.data.Dataset


class _SeesState(keras.callbacks.Callback):
    def on_train_begin(self, logs: Any = None) -> None:
        self.optimizer_built = self.model.optimizer.built
        self.metric_variables = [v.path for v in self.model.metrics_variables]


def test_kerun_train_builds_before_the_first_step_and_eval_before_its_first(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _SeesState()
    spec = small_spec(tmp_path, size=64, epochs=1, text=small_spec_text(without=("checkpoint",)))
    result = train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet", callbacks=[seen]))
    assert seen.optimizer_built
    assert any("accuracy" in p for p in seen.metric_variables), seen.metric_variables

    calls: list[tuple[str, list[str]]] = []
    evaluate = keras.Model.evaluate

    def watched(self: keras.Model, *args: Any, **kwargs: Any) -> Any:
        calls.append(("evaluate", [v.path for v in self.metrics_variables]))
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", watched)
    evaluate_run(result.run_dir)
    assert calls and any("accuracy" in p for p in calls[0][1]), calls
