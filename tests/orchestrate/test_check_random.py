"""``kerun check`` and a model with randomness at inference (issue 23, point 11): a sampling layer
that draws at inference passes, its predictions compared with the random seeds fixed and a note
saying so; a reload that really differs still fails, random layers or not."""

from __future__ import annotations

from pathlib import Path

PLUGIN = '''\
import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="random_test")
class NoisySample(keras.layers.Layer):  # not 'Sampling': the keras.io VAE's plugin registers that name in the same process
    """Draws z ~ N(mean, 1) at inference too, as the keras.io VAE's sampling layer does."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, mean):
        return mean + keras.random.normal(ops.shape(mean), seed=self.seed_generator)


@keras.saving.register_keras_serializable(package="random_test")
class Forgetful(keras.layers.Layer):
    """A weight that saving does not restore: the reloaded model is not the trained one."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal")

    def call(self, x):
        return x * self.w

    def load_own_variables(self, store):
        pass


@keras.saving.register_keras_serializable(package="random_test")
class Unseeded(keras.layers.Layer):
    """Declares a seed generator but draws from NumPy, which no seed reaches."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(3)

    def call(self, x):
        return x + np.float32(np.random.default_rng().normal())
'''

SPEC = """\
name: random
seed: 4
plugins: [random_layers.py]
data:
  train: {type: synthetic, size: 64, fields: {x: {shape: [4]}, y: {shape: [2]}}}
  validation: {split: 0.25}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 2}
LAYERS
compile: {optimizer: adam, loss: mse}
train: {epochs: 1, batch_size: 8}
"""


def _spec(tmp_path: Path, *layers: str) -> Path:
    (tmp_path / "random_layers.py").write_text(PLUGIN)
    path = tmp_path / "random.yaml"
    path.write_text(SPEC.replace("LAYERS", "\n".join(f"    - {entry}" for entry in layers)))
    return path


def _compared(tmp_path: Path, *layers: str) -> tuple[float, str | None]:
    """Build, save, reload as check does, and compare (no training: fast)."""
    import keras
    import numpy as np

    from kerun.model.model import build_model
    from kerun.orchestrate.check_worker import compare_reloaded
    from kerun.spec import load_spec

    built = build_model(load_spec(_spec(tmp_path, *layers)))
    built.model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    return compare_reloaded(built.model, reloaded, x)


def test_check_passes_a_sampling_layer_with_a_note(tmp_path: Path) -> None:
    from kerun.orchestrate.check_worker import check_one

    report = check_one(_spec(tmp_path, "{type: NoisySample, name: y}"), tmp_path / "runs", steps=2)
    assert report["result"] == "passed", report["message"]  # was: the saved model predicts differently
    assert report["message"] == "compared with the random seeds fixed: NoisySample (y) draws random numbers at inference"


def test_a_model_without_randomness_gets_no_note(tmp_path: Path) -> None:
    assert _compared(tmp_path, "{type: Dense, units: 2}") == (0.0, None)


def test_weights_not_restored_still_fail_beside_a_random_layer(tmp_path: Path) -> None:
    diff, note = _compared(tmp_path, "{type: Forgetful}", "{type: NoisySample}")
    assert diff > 1e-3 and note is None


def test_weights_not_restored_still_fail_without_randomness(tmp_path: Path) -> None:
    diff, note = _compared(tmp_path, "{type: Forgetful}")
    assert diff > 1e-3 and note is None


def test_randomness_no_seed_reaches_is_not_compared_and_said_so(tmp_path: Path) -> None:
    diff, note = _compared(tmp_path, "{type: Unseeded, name: u}")
    assert diff == 0.0
    assert note == ("not compared: output, as Unseeded (u) draws random numbers at inference "
                    "(they differ even with the seeds fixed; the reloaded weights are equal)")


def test_unseeded_randomness_does_not_hide_weights_not_restored(tmp_path: Path) -> None:
    diff, note = _compared(tmp_path, "{type: Forgetful}", "{type: Unseeded}")
    assert diff > 1e-3 and note is None  # skipped only when the reloaded weights are the trained ones
