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


IMAGES = """\
name: pics
seed: 2
data:
  train: {type: images, path: pics, image_size: [8, 8]}
model:
  inputs: {image: [8, 8, 3]}
  layers:
    - {type: Rescaling, scale: 0.00392156862745098}
    - {type: Flatten}
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
train: {epochs: 1, batch_size: 4}
"""


@pytest.fixture(scope="module")
def images_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("pics")
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (folder / "pics" / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(folder / "pics" / cls / f"{i}.png")
    (folder / "pics.yaml").write_text(IMAGES)
    return Path(train_file(folder / "pics.yaml", [], TrainOptions(runs_dir=folder / "runs", progress="quiet")).run_dir)


def _expected(run: Path) -> np.ndarray:
    """The model's own predictions on the images as training read them, in file order."""
    import keras

    from kerun.data import read_source
    from kerun.data._common import SourceContext
    from kerun.run.rundir import RunDir

    loaded = RunDir.open(run).load_spec()
    arrays, _ = read_source(SourceContext(loaded, ("data", "train"), loaded.spec.data.train))
    return keras.models.load_model(run / "model.keras").predict(arrays.fields["image"], verbose=0)


def _predicted(path: Path) -> np.ndarray:
    with open(path) as fh:
        return np.array([[float(r["output_0"]), float(r["output_1"])] for r in csv.DictReader(fh)])


def test_predict_reads_a_folder_of_images_as_training_does(images_run: Path, tmp_path: Path) -> None:
    folder = images_run.parents[2] / "pics"
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(images_run), "--input", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "10 predictions" in result.stdout
    np.testing.assert_allclose(_predicted(out), _expected(images_run), rtol=1e-5, atol=1e-6)


def test_predict_reads_a_yaml_source_relative_to_its_file(images_run: Path, tmp_path: Path) -> None:
    (tmp_path / "more").mkdir()
    source = tmp_path / "more" / "source.yaml"
    source.write_text(f"type: images\npath: {images_run.parents[2] / 'pics'}\nimage_size: [8, 8]\n")
    result = runner.invoke(app, ["predict", str(images_run), "--input", str(source), "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.stderr
    np.testing.assert_allclose(_predicted(tmp_path / "p.csv"), _expected(images_run), rtol=1e-5, atol=1e-6)
    # a relative path is read from the YAML file's folder, and its errors point into that file
    source.write_text("type: images\npath: elsewhere\nimage_size: [8, 8]\n")
    result = runner.invoke(app, ["predict", str(images_run), "--input", str(source)])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"{source}:2:" in result.stderr and str(tmp_path / "more" / "elsewhere") in result.stderr
    source.write_text("type: images\npath: .\nimage_sise: [8, 8]\n")
    result = runner.invoke(app, ["predict", str(images_run), "--input", str(source)])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"{source}:3:" in result.stderr and "image_sise: the input source: unknown key 'image_sise'" in result.stderr
    assert "did you mean 'image_size'?" in result.stderr


def test_a_folder_for_a_table_model_is_a_clear_error(table_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["predict", str(table_run), "--input", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "is a folder" in result.stderr and "training source is csv" in result.stderr
