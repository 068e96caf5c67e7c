"""kerun eval: data errors in a streamed split are clear messages, as in training; a logit output is
thresholded at 0; a run without a test split is evaluated on its validation split, saying so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kerun.cli import app
from kerun.run.train import TrainOptions, train_file

from test_predict import TABLE, table_lines

runner = CliRunner()


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("table")
    (folder / "data.csv").write_text(table_lines(3000))
    (folder / "table.yaml").write_text(TABLE)
    return Path(train_file(folder / "table.yaml", [], TrainOptions(runs_dir=folder / "runs", progress="quiet")).run_dir)


def test_ragged_row_deep_in_a_streamed_split_is_a_clear_error(table_run: Path) -> None:
    data = table_run.parents[2] / "data.csv"
    good = data.read_text()
    data.write_text(table_lines(3000, ragged_at=2501))  # the file changed after training
    reported = (table_run / "eval-test.json").read_text()  # train's own report of its test split
    try:
        result = runner.invoke(app, ["eval", str(table_run)])
        trained = runner.invoke(app, ["train", str(table_run.parents[2] / "table.yaml"), "--runs-dir",
                                      str(table_run.parents[1].parent / "again"), "--quiet"])
    finally:
        data.write_text(good)
    for got in (result, trained):  # eval says what training says
        assert got.exit_code == 2, got.stderr
        assert "data.csv: row at line 2501 has 4 fields, the header has 3" in got.stderr
        assert "yaml:4:28: data.train.path:" in got.stderr  # the source's line in the spec (the run's copy for eval)
        assert "Traceback" not in got.stderr and "OpError" not in got.stderr
    assert (table_run / "eval-test.json").read_text() == reported  # the failed eval wrote nothing over it


def test_eval_of_the_streamed_test_split(table_run: Path) -> None:
    result = runner.invoke(app, ["eval", str(table_run), "--json"])
    assert result.exit_code == 0, result.stderr
    assert (table_run / "eval-test.json").is_file()


LOGITS = """\
name: logits
seed: 4
data:
  train: {type: synthetic, size: 96, fields: {x: {shape: [4], distribution: normal}, label: {classes: 2}}}
  validation: {split: 0.5}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 1, kernel_initializer: {type: RandomNormal, stddev: 3.0, seed: 1}}
compile: {optimizer: adam, loss: {type: BinaryCrossentropy, from_logits: true}}
train: {epochs: 1, batch_size: 16}
"""


@pytest.fixture(scope="module")
def logits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-unit logit output, and no test split."""
    folder = tmp_path_factory.mktemp("logits")
    (folder / "logits.yaml").write_text(LOGITS)
    return Path(train_file(folder / "logits.yaml", [], TrainOptions(runs_dir=folder / "runs", progress="quiet")).run_dir)


def test_without_a_test_split_eval_uses_validation_and_says_so(logits_run: Path) -> None:
    result = runner.invoke(app, ["eval", str(logits_run), "--json"])
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["split"] == "validation" and got["examples"] == 48
    assert got["note"] == "the run has no test split: evaluated on its validation split"
    assert (logits_run / "eval-validation.json").is_file() and not (logits_run / "eval-test.json").exists()
    text = runner.invoke(app, ["eval", str(logits_run)])
    assert text.exit_code == 0 and "validation" in text.stdout
    assert "the run has no test split: evaluated on its validation split" in " ".join(text.stdout.split())


def test_a_logit_output_is_thresholded_at_zero(logits_run: Path) -> None:
    import tensorflow as tf

    from kerun.data import load_datasets
    from kerun.run.evaluate import load_run

    result = runner.invoke(app, ["eval", str(logits_run), "--split", "validation", "--json"])
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    _, loaded, built = load_run(logits_run)
    x, y = (np.concatenate(p) for p in zip(*[(bx.numpy(), by.numpy()) for bx, by in load_datasets(loaded, built).validation]))
    z = built.model.predict(x, verbose=0).reshape(-1)
    assert z.min() < 0 < z.max() and (z > 1).any()  # real logits, not probabilities
    predicted = (tf.sigmoid(z).numpy() > 0.5).astype(int)  # the probability the logit stands for
    expected = np.zeros((2, 2), int)
    np.add.at(expected, (y.reshape(-1).astype(int), predicted), 1)
    assert got["confusion_matrix"]["matrix"] == expected.tolist()
    assert got["threshold"].startswith("logit > 0")


def test_a_run_without_test_or_validation_split_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(LOGITS.replace("  validation: {split: 0.5}\n", "").replace("size: 96", "size: 16"))
    run = train_file(tmp_path / "s.yaml", [], TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    result = runner.invoke(app, ["eval", str(run.run_dir)])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "the run's spec has no test split and no validation split" in result.stderr and "--split" in result.stderr
