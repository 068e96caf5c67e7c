"""kerun predict: every source type train reads, through the same field mapping; data errors in a
streamed file are clear messages naming the file and line, never a TensorFlow traceback."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kerun.cli import app
from kerun.run.train import TrainOptions, train_file

runner = CliRunner()

TABLE = """\
name: table
seed: 1
data:
  train: {type: csv, path: data.csv, label: label, stream: true}
  test: {split: 0.25}
model:
  inputs: {x: [2]}
  layers: [{type: Dense, units: 3, activation: softmax}]
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
train: {epochs: 1, batch_size: 64}
"""


def table_lines(n: int, *, ragged_at: int | None = None) -> str:
    """``n`` rows of label,a,b; with ``ragged_at``, that file line (1 = the header) has 4 fields."""
    lines = ["label,a,b"] + [f"{i % 3},{i % 7},{i % 5}" for i in range(n)]
    if ragged_at is not None:
        lines[ragged_at - 1] = "1,2,3,4"
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("table")
    (folder / "data.csv").write_text(table_lines(3000))
    (folder / "table.yaml").write_text(TABLE)
    return Path(train_file(folder / "table.yaml", [], TrainOptions(runs_dir=folder / "runs", progress="quiet")).run_dir)


def test_ragged_row_deep_in_a_streamed_input_is_a_clear_error(table_run: Path, tmp_path: Path) -> None:
    # past the first 1,000 rows (read when the file is opened), so it is met inside tf.data
    (tmp_path / "bad.csv").write_text(table_lines(3000, ragged_at=2501))
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", str(table_run), "--input", str(tmp_path / "bad.csv"), "-o", str(out)])
    assert result.exit_code == 2, result.stderr
    assert "bad.csv" in result.stderr and "row at line 2501 has 4 fields, the header has 3" in result.stderr
    assert "Traceback" not in result.stderr and "OpError" not in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # nothing half-written


def test_predict_streams_a_good_csv(table_run: Path, tmp_path: Path) -> None:
    (tmp_path / "good.csv").write_text(table_lines(2500))
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["predict", str(table_run), "--input", str(tmp_path / "good.csv"), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2500 and {"output_0", "output_1", "output_2", "output_class"} <= set(rows[0])
    assert np.allclose([sum(float(r[f"output_{i}"]) for i in range(3)) for r in rows[:5]], 1.0, atol=1e-5)
