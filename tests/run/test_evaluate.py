"""kerun eval: data errors in a streamed split are clear messages, as in training."""

from __future__ import annotations

from pathlib import Path

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
    assert not (table_run / "eval-test.json").exists()


def test_eval_of_the_streamed_test_split(table_run: Path) -> None:
    result = runner.invoke(app, ["eval", str(table_run), "--json"])
    assert result.exit_code == 0, result.stderr
    assert (table_run / "eval-test.json").is_file()
