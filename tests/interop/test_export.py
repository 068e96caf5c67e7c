"""kerun export: a trained run out as SavedModel, TFLite and ONNX, each loaded back and checked."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerun.cli import app
from kerun.interop import InteropError
from kerun.interop.exporter import TOLERANCES, export_run

runner = CliRunner()

SPEC = """\
name: tiny-iris
seed: 0
data:
  train: {type: sklearn, name: iris}
  targets: {encoding: one_hot}
model:
  inputs: {features: [4]}
  layers:
    - {type: Dense, units: 8, activation: relu, name: hidden}
    - {type: Dense, units: 3, activation: softmax}
compile: {optimizer: adam, loss: categorical_crossentropy}
train: {epochs: 1, batch_size: 32}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    (root / "tiny.yaml").write_text(SPEC)
    result = runner.invoke(app, ["train", str(root / "tiny.yaml"), "--runs-dir", str(root / "runs"), "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    return Path(json.loads(result.stdout)["run_dir"])


def test_saved_model_from_the_command_line(run_dir: Path) -> None:
    result = runner.invoke(app, ["export", str(run_dir), "--format", "saved_model", "--json"])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert Path(info["path"]) == run_dir / "export" / "saved_model"
    assert (run_dir / "export" / "saved_model" / "saved_model.pb").is_file()
    assert info["max_abs_diff"] <= 1e-6


def test_tflite_agrees_with_keras(run_dir: Path, tmp_path: Path) -> None:
    result = export_run(run_dir, "tflite", tmp_path / "tiny.tflite")
    assert Path(result.path).is_file()
    assert result.max_abs_diff <= TOLERANCES["tflite"][1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left behind"


@pytest.mark.skipif(importlib.util.find_spec("tf2onnx") is None or importlib.util.find_spec("onnxruntime") is None,
                    reason="the onnx extra is not installed")
def test_onnx_agrees_with_keras(run_dir: Path, tmp_path: Path) -> None:
    result = export_run(run_dir, "onnx", tmp_path / "tiny.onnx")
    assert Path(result.path).is_file()
    assert result.max_abs_diff <= TOLERANCES["onnx"][1]


def test_missing_onnx_converter_names_the_extra(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name, *a))
    with pytest.raises(InteropError, match=r"ONNX export needs tf2onnx") as err:
        export_run(run_dir, "onnx")
    assert "pip install 'kerun[onnx]'" in err.value.render()


def test_a_tflite_file_must_end_in_tflite(run_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", str(run_dir), "--format", "tflite", "-o", str(tmp_path / "model.bin")])
    assert result.exit_code == 2 and "ends in .tflite" in result.stderr and "Traceback" not in result.stderr
