"""An error raised inside a plugin's own code names the plugin file, line and function, at build,
train and load; a bug in kerun's own code keeps its traceback (issue 23, point 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerun.errors import BuildError, RunError
from kerun_testing import invoke_in

CELLS = '''\
import keras


@keras.saving.register_keras_serializable(package="origin_test")
class NestedCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        width = input_shape[5]  # BUILD: the shape has 2 dimensions
        self.kernel = self.add_weight(shape=(width, self.units))

    def call(self, inputs, states):
        return inputs, states

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="origin_test")
class TrainBug(keras.layers.Layer):
    def call(self, x, training=None):
        if training:
            return ()[0]  # TRAIN
        return x


@keras.saving.register_keras_serializable(package="origin_test")
class LoadBug(keras.layers.Layer):
    def call(self, x):
        return x

    @classmethod
    def from_config(cls, config):
        return cls(name=config["names"][0])  # LOAD
'''

SPEC = """\
name: origin
seed: 1
plugins: [plugins/cells.py]
data:
  train: {type: synthetic, size: 32, fields: {x: {shape: [4, 3]}, label: {classes: 2}}}
model:
  inputs: {x: [4, 3]}
  layers:
    - LAYER
    - {type: Flatten}
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
train: {epochs: 1, batch_size: 8}
"""


def _line(marker: str) -> int:
    return next(i for i, line in enumerate(CELLS.splitlines(), 1) if marker in line)


@pytest.fixture()
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "cells.py").write_text(CELLS)
    monkeypatch.chdir(tmp_path)  # the plugin is shown relative to the working directory
    return tmp_path


def _spec(folder: Path, layer: str) -> Path:
    path = folder / "origin.yaml"
    path.write_text(SPEC.replace("LAYER", layer))
    return path


def test_at_build_the_plugin_frame_that_raised_is_named(folder: Path) -> None:
    from kerun.model.model import build_model
    from kerun.spec import load_spec

    with pytest.raises(BuildError) as info:
        build_model(load_spec(_spec(folder, "{type: RNN, cell: {type: NestedCell, units: 2}, name: rnn, return_sequences: true}")))
    assert info.value.message == f"RNN (rnn): plugins/cells.py:{_line('BUILD')} in NestedCell.build: tuple index out of range"
    assert info.value.location.line == 9


def test_at_train_the_command_names_the_plugin_frame_not_a_kerun_bug(folder: Path) -> None:
    _spec(folder, "{type: TrainBug}")
    result = invoke_in(folder, ["train", "origin.yaml", "--runs-dir", "runs"])
    assert result.exit_code == 2, result.output
    assert f"plugins/cells.py:{_line('TRAIN')} in TrainBug.call: IndexError: tuple index out of range" in result.output
    assert "the error is in the plugin's own code; its traceback is saved in" in result.output
    assert "Traceback" not in result.output and len(list(folder.glob("runs/origin/*/traceback.txt"))) == 1


def test_at_load_the_plugin_frame_that_raised_is_named(folder: Path) -> None:
    from kerun.run.train import TrainOptions, train
    from kerun.spec import load_spec

    with pytest.raises(RunError) as info:
        train(load_spec(_spec(folder, "{type: LoadBug}")), TrainOptions(runs_dir=folder / "runs", progress="quiet"))
    assert f"(plugins/cells.py:{_line('LOAD')} in LoadBug.from_config: KeyError: 'names')" in info.value.message


def test_an_error_explained_from_a_plugin_failure_says_where_it_was_raised(folder: Path) -> None:
    # kerun eval turns a failed load into a RunError (raised from None): the plugin frame is still found
    from kerun.model.model import build_model
    from kerun.model.plugins import plugin_origin
    from kerun.spec import load_spec

    built = build_model(load_spec(_spec(folder, "{type: LoadBug}")))
    layer = built.model.layers[0]
    try:
        try:
            type(layer).from_config(layer.get_config())
        except KeyError as exc:
            raise RunError(f"cannot load model.keras: KeyError: {exc}") from None
    except RunError as exc:
        err = exc
    origin = plugin_origin(err)
    assert origin is not None
    err.raised_in(origin)
    err.raised_in(origin)  # said once
    assert origin == f"plugins/cells.py:{_line('LOAD')} in LoadBug.from_config"
    assert err.message == f"cannot load model.keras: KeyError: 'names' (raised at {origin})"


def test_a_bug_in_kerun_keeps_its_traceback(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kerun.run import session

    def broken(self: object) -> None:
        raise ZeroDivisionError("a bug in kerun")

    monkeypatch.setattr(session.TrainingSession, "run", broken)
    _spec(folder, "{type: TrainBug}")  # plugins imported, but the error is not raised by their code
    result = invoke_in(folder, ["train", "origin.yaml", "--runs-dir", "runs"])
    assert isinstance(result.exception, ZeroDivisionError) and result.exit_code == 1
    assert "plugin's own code" not in result.output
