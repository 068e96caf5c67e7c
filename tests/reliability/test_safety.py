"""Specs from strangers: no code runs unless listed, no run escapes the runs folder, and a saved
model carrying Python code is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerun_testing import ROOT
from kerun.cli import app
from kerun.errors import RunError
from kerun.run.rundir import RunDir

runner = CliRunner()

PLUGIN = """\
from pathlib import Path
Path(__file__).with_name("imported.marker").write_text("ran")
import keras


@keras.saving.register_keras_serializable(package="t")
class Twice(keras.layers.Layer):
    def call(self, x):
        return x * 2
"""

SPEC = """\
plugins: [evil_plugin.py]
model:
  inputs: {x: [4]}
  layers:
    - {type: Twice}
    - {type: Dense, units: 1}
compile: {loss: mse}
"""


def test_validate_reads_plugins_without_running_them(tmp_path: Path) -> None:
    (tmp_path / "evil_plugin.py").write_text(PLUGIN)
    (tmp_path / "spec.yaml").write_text(SPEC)
    result = runner.invoke(app, ["validate", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 0, result.stdout
    assert not (tmp_path / "imported.marker").exists()
    # building imports the listed plugin, as the spec says
    out = subprocess.run([sys.executable, "-m", "kerun", "summary", str(tmp_path / "spec.yaml"), "--json"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "imported.marker").read_text() == "ran"


def test_only_listed_code_is_imported(tmp_path: Path) -> None:
    (tmp_path / "evil_plugin.py").write_text(PLUGIN)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("plugins: [evil_plugin.py]\n", ""))
    result = runner.invoke(app, ["validate", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 2 and "unknown layer type 'Twice'" in result.stdout
    (tmp_path / "spec.yaml").write_text(SPEC.replace("plugins: [evil_plugin.py]\n", "").replace("{type: Twice}", "{type: os.system}"))
    assert runner.invoke(app, ["validate", str(tmp_path / "spec.yaml")]).exit_code == 2
    assert not (tmp_path / "imported.marker").exists()


@pytest.mark.parametrize("name", ["../escape", "/abs", ".hidden", "a/b", ""])
def test_run_names_cannot_leave_the_runs_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(RunError):
        RunDir.create(tmp_path / "runs", name)
    assert not (tmp_path / "escape").exists()


def test_saved_lambda_model_is_refused_by_eval_and_predict(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: lam\nseed: 1\ndata:\n  train: {type: synthetic, size: 32, fields: {x: {shape: [2]}, y: {shape: [1]}}}\n"
        "  test: {split: 0.25}\nmodel:\n  inputs: {x: [2]}\n  layers:\n    - {type: Dense, units: 1, name: y}\n"
        "compile: {loss: mse}\ntrain: {epochs: 1}\n"
    )
    trained = runner.invoke(app, ["train", str(spec), "--runs-dir", str(tmp_path / "runs"), "--json"])
    assert trained.exit_code == 0, trained.stdout + trained.stderr
    run_dir = Path(json.loads(trained.stdout)["run_dir"])
    marker = tmp_path / "lambda-ran"
    # replace the model with one whose Lambda would run code when deserialized unsafely
    code = (
        "import keras\n"
        f"m = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: (open({str(marker)!r}, 'w').write('x'), x)[1]), keras.layers.Dense(1)])\n"
        f"m.save({str(run_dir / 'model.keras')!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    marker.unlink(missing_ok=True)
    for args in (["eval", str(run_dir)], ["predict", str(run_dir), "--input", str(spec)]):
        result = runner.invoke(app, args)
        assert result.exit_code != 0
        assert "Traceback" not in result.stderr
        assert "cannot load" in result.stderr or "Lambda" in result.stderr or "safe" in result.stderr.lower()
    assert not marker.exists()
