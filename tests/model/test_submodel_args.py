"""A sub-model of ``models:`` as an argument of another layer: ``encoder: {type: encoder}`` passes
a fresh instance, built first (issue 23, point 2). Validate checks the name, refuses cycles and a
plain string; the saved model reloads and predicts the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerun.errors import SpecError
from kerun.spec import load_spec, spec_from_text

PLUGIN = '''
import keras


@keras.saving.register_keras_serializable(package="args_test")
class Twice(keras.layers.Layer):
    """Applies the model it is given, then adds ``scale`` times its input."""

    def __init__(self, inner, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.inner, self.scale = inner, scale

    def call(self, x):
        return self.inner(x) + self.scale * x

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "inner": keras.saving.serialize_keras_object(self.inner)}

    @classmethod
    def from_config(cls, config):
        return cls(inner=keras.saving.deserialize_keras_object(config.pop("inner")), **config)
'''

SPEC = """\
name: args
seed: 2
plugins: [twice.py]
models:
  block:
    inputs: {h: [4]}
    layers:
      - {type: Dense, units: 4, activation: tanh}
  step:
    inputs: {s: [3]}
    layers:
      - {type: Dense, units: 2}
model:
  inputs: {x: [5, 3]}
  layers:
    - {type: TimeDistributed, layer: {type: step}}
    - {type: Flatten}
    - {type: Dense, units: 4}
    - {type: Twice, inner: INNER, scale: 0.5, name: twice}
    - {type: Dense, units: 1}
compile: {optimizer: adam, loss: mse}
"""


def _write(tmp_path: Path, inner: str = "{type: block}", spec: str = SPEC) -> Path:
    (tmp_path / "twice.py").write_text(PLUGIN)
    path = tmp_path / "args.yaml"
    path.write_text(spec.replace("INNER", inner))
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    return [f"{p.location.line}:{p.location.column}: {p.message} | {p.hint}" for p in info.value.problems]


def test_a_sub_model_argument_is_built_passed_saved_and_reloaded(tmp_path: Path) -> None:
    import keras

    from kerun.model.model import build_model

    built = build_model(load_spec(_write(tmp_path)))
    twice = built.model.get_layer("twice")
    assert isinstance(twice.inner, keras.Model) and twice.inner.name == "block"
    assert len(twice.inner.weights) == 2  # its Dense: kernel and bias
    distributed = built.model.layers[0]
    assert isinstance(distributed.layer, keras.Model) and distributed.layer.name == "step"
    # 3*2+2 (step) + 10*4+4 (Dense) + 4*4+4 (block) + 4+1
    assert built.model.count_params() == 8 + 44 + 20 + 5
    x = np.random.default_rng(0).normal(size=(6, 5, 3)).astype("float32")
    built.model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), built.model.predict(x, verbose=0), atol=1e-6)
    assert isinstance(reloaded.get_layer("twice").inner, keras.Model)


def test_two_references_are_two_fresh_instances(tmp_path: Path) -> None:
    from kerun.model.model import build_model

    spec = SPEC.replace("    - {type: Dense, units: 1}", "    - {type: Twice, inner: {type: block, name: again}, name: twice2}\n"
                        "    - {type: Dense, units: 1}")
    built = build_model(load_spec(_write(tmp_path, spec=spec)))
    first, second = built.model.get_layer("twice").inner, built.model.get_layer("twice2").inner
    assert first is not second and second.name == "again"
    assert not np.array_equal(first.get_weights()[0], second.get_weights()[0])


def test_validate_names_a_misspelt_sub_model_at_its_line(tmp_path: Path) -> None:
    assert _problems(_write(tmp_path, "{type: blok}")) == ["19:35: unknown Keras class 'blok' | did you mean 'block'?"]


def test_a_plain_string_naming_a_sub_model_is_refused_with_the_reference_form(tmp_path: Path) -> None:
    # it used to reach the constructor as the string: 'str' object is not callable
    assert _problems(_write(tmp_path, "block")) == [
        "19:28: Twice's argument 'inner' would receive the string 'block', not the sub-model "
        "| to pass a fresh instance of the sub-model 'block', write inner: {type: block}"]


def test_a_reference_takes_only_name_and_trainable(tmp_path: Path) -> None:
    assert _problems(_write(tmp_path, "{type: block, units: 3}")) == [
        "19:42: a sub-model given as an argument takes only name and trainable, got 'units' | None"]


def test_a_sub_model_reaching_itself_through_an_argument_is_a_cycle() -> None:
    text = """\
name: cycle
models:
  a:
    inputs: {x: [3]}
    layers:
      - {type: TimeDistributed, layer: {type: b}}
  b:
    inputs: {y: [3]}
    layers:
      - {type: Bidirectional, layer: a}
model:
  inputs: {x: [2, 3]}
  layers:
    - {type: a}
"""
    with pytest.raises(SpecError) as info:
        spec_from_text(text)
    messages = [f"{p.location.line}: {p.message}" for p in info.value.problems]
    assert "6: sub-model 'a' uses itself: a -> b -> a" in messages or "10: sub-model 'a' uses itself: a -> b -> a" in messages
