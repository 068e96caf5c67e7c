"""Issue 23 (real Keras models, part two): checkpoints of weights only, their log lines, models that
train themselves, runs reloaded before they are called completed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerun_testing import SMALL_SPEC, small_spec
from kerun.run.rundir import atomic_path, full_suffix
from kerun.run.train import TrainOptions, train_file

WEIGHTS_SPEC = SMALL_SPEC.replace(
    "    - {type: ModelCheckpoint, monitor: val_loss, save_best_only: true}\n",
    "    - {type: ModelCheckpoint, filepath: best.weights.h5, save_weights_only: true, monitor: val_loss,"
    " save_best_only: true, verbose: 1}\n")


@pytest.mark.parametrize("name, suffix", [("best.weights.h5", ".weights.h5"), ("run.tar.gz", ".tar.gz"),
                                          ("best-0.53.keras", ".keras"), ("history.json", ".json"), ("README", "")])
def test_temporary_name_keeps_the_full_suffix(tmp_path: Path, name: str, suffix: str) -> None:
    assert full_suffix(name) == suffix
    with atomic_path(tmp_path / name) as tmp:
        assert tmp.name.endswith(".tmp" + suffix) and tmp.parent == tmp_path
        tmp.write_text("x")
    assert (tmp_path / name).read_text() == "x"


def test_weights_only_checkpoint_is_saved_and_logged_by_its_own_name(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    spec = small_spec(tmp_path, epochs=2, text=WEIGHTS_SPEC)
    assert "save_weights_only: true" in spec.read_text()
    result = train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert result.status == "completed"
    saved = result.run_dir / "best.weights.h5"
    assert saved.is_file() and saved.stat().st_size > 0
    assert not [p.name for p in result.run_dir.iterdir() if p.name.startswith(".")]
    out = capfd.readouterr().out
    assert f"saving model to {saved}" in out and f"finished saving model to {saved}" in out
    assert ".tmp" not in out


PLUGIN = Path(__file__).with_name("self_training_plugin.py")
VAE_SPEC = """\
name: vae
seed: 1
plugins: [self_training_plugin.py]
data:
  train: {type: synthetic, size: 64, fields: {x: {shape: [8]}}}
  validation: {split: 0.25}
model:
  inputs: {x: [8]}
  layers:
%s
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
train: {epochs: 2, batch_size: 16}
"""


def _vae_spec(folder: Path, layers: str) -> Path:
    (folder / PLUGIN.name).write_text(PLUGIN.read_text())
    spec = folder / "vae.yaml"
    spec.write_text(VAE_SPEC % layers)
    return spec


def test_a_model_that_trains_itself_is_fitted_as_itself(tmp_path: Path) -> None:
    import json

    import keras

    spec = _vae_spec(tmp_path, "    - {type: TinyVAE, features: 8, latent: 2}")
    result = train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert result.status == "completed" and result.built.trains_itself
    assert type(result.built.model).__name__ == "TinyVAE"  # the plugin model itself, not a wrapper
    rows = json.loads((result.run_dir / "history.json").read_text())
    assert len(rows) == 2 and {"kl_loss", "total_loss", "val_kl_loss"} <= set(rows[0])  # its own train_step ran
    assert set(result.metrics["train"]) == {"kl_loss", "total_loss"}
    assert type(keras.saving.load_model(result.run_dir / "model.keras")).__name__ == "TinyVAE"


def test_a_model_that_trains_itself_inside_a_larger_graph_is_refused(tmp_path: Path) -> None:
    from kerun.errors import BuildError

    spec = _vae_spec(tmp_path, "    - {type: TinyVAE, features: 8, latent: 2}\n    - {type: Dense, units: 8}")
    spec.write_text(spec.read_text().replace("optimizer: {type: Adam, learning_rate: 0.01}",
                                             "optimizer: {type: Adam, learning_rate: 0.01}\n  loss: mse"))
    spec.write_text(spec.read_text().replace("fields: {x: {shape: [8]}}", "fields: {x: {shape: [8]}, label: {shape: [8]}}"))
    with pytest.raises(BuildError, match="TinyVAE has its own train_step/compute_loss, which would not run") as info:
        train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert info.value.location is not None and info.value.location.line == 10


def test_validate_asks_no_loss_of_a_model_that_trains_itself(tmp_path: Path) -> None:
    from kerun.errors import SpecError
    from kerun.spec import load_spec
    from kerun.spec.plugins import scan_plugins

    spec = _vae_spec(tmp_path, "    - {type: TinyVAE, features: 8, latent: 2}")
    loaded = load_spec(spec)  # no "training needs a loss"
    found, _ = scan_plugins(loaded.spec.plugins, loaded.doc, tmp_path)
    assert found["TinyVAE"][0].trains_itself
    plain = tmp_path / "plain.yaml"  # an ordinary model still needs its loss
    plain.write_text(spec.read_text().replace("TinyVAE, features: 8, latent: 2", "Dense, units: 3"))
    with pytest.raises(SpecError, match="training needs a loss"):
        load_spec(plain)


def test_a_run_whose_model_does_not_load_back_is_not_completed(tmp_path: Path) -> None:
    import json

    from kerun.errors import RunError

    (tmp_path / PLUGIN.name).write_text(PLUGIN.read_text())
    text = SMALL_SPEC.replace("seed: 3\n", "seed: 3\nplugins: [self_training_plugin.py]\n").replace(
        "    - {type: Dropout, rate: 0.1}\n", "    - {type: ForgetfulScale, factor: 0.5}\n")
    spec = small_spec(tmp_path, epochs=1, text=text)
    with pytest.raises(RunError, match="does not load back: ForgetfulScale's get_config") as info:
        train_file(spec, [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    shown = info.value.render()
    assert "its config has no 'factor'" in shown and "self_training_plugin.py" in shown
    manifest = next((tmp_path / "runs").rglob("manifest.json"))
    assert json.loads(manifest.read_text())["status"] == "failed"


def test_validate_warns_of_a_plugin_layer_whose_init_takes_no_kwargs(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from kerun.cli import app

    spec = _vae_spec(tmp_path, "    - {type: TinyVAE, features: 8, latent: 2}")
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "warning: plugin layer" in line]
    assert len(warned) == 1 and "NoKwargs" in warned[0] and "takes no **kwargs" in warned[0]
    assert f"{spec}:3:" in warned[0]  # at the plugins: entry
    github = CliRunner().invoke(app, ["validate", "--format", "github", str(spec)])
    assert github.output.startswith("::warning file=")
    as_json = json.loads(CliRunner().invoke(app, ["validate", "--format", "json", str(spec)]).output)
    assert [w["message"].split(" (")[0] for w in as_json["specs"][0]["warnings"]] == ["warning: plugin layer NoKwargs"]
