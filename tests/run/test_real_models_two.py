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
