"""kerun sweep: Optuna trials as kerun train subprocesses, resumable, checked before it starts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerun_testing import SPECS
from kerun.cli import app
from kerun.spec import load_spec

runner = CliRunner()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict:
    runs = tmp_path_factory.mktemp("sweep") / "runs"
    res = runner.invoke(app, ["sweep", str(SPECS / "iris_sweep.yaml"), "--set", "train.epochs=2", "--runs-dir", str(runs),
                              "--jobs", "2", "--json"])
    assert res.exit_code == 0, res.output
    return {"runs": runs, "result": json.loads(res.stdout)}


def test_sweep_runs_its_trials_and_writes_the_best_spec(finished: dict) -> None:
    result = finished["result"]
    folder = Path(result["sweep_dir"])
    assert result["ran"] == 6 and len(result["trials"]) == 6
    assert all(t["state"] == "completed" for t in result["trials"])
    assert result["checked_variants"] >= 6
    with open(folder / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["trial"]) for r in rows] == list(range(6))
    assert len(json.loads((folder / "trials.json").read_text())) == 6
    assert (folder / "objective.png").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "study.db").is_file()
    # every trial is an ordinary, complete run folder inside the sweep's
    for t in result["trials"]:
        run = Path(t["run_dir"])
        assert run.parent == folder / "trials"
        assert json.loads((run / "manifest.json").read_text())["status"] == "completed"
    best = result["best"]
    values = [t["value"] for t in result["trials"]]
    assert best["value"] == max(values)  # objective: val_accuracy, max
    loaded = load_spec(folder / "best.yaml")
    assert loaded.spec.sweep is None
    assert loaded.data["model"]["layers"][0]["units"] == best["params"]["model.layers.hidden.units"]
    assert loaded.data["compile"]["optimizer"]["learning_rate"] == pytest.approx(best["params"]["compile.optimizer.learning_rate"])
    assert loaded.spec.train.epochs == 2  # the sweep's overrides are kept


def test_best_spec_trains(finished: dict, tmp_path: Path) -> None:
    from kerun.run.train import TrainOptions, train_file

    folder = Path(finished["result"]["sweep_dir"])
    result = train_file(folder / "best.yaml", [], TrainOptions(runs_dir=tmp_path, progress="quiet"))
    assert result.status == "completed"


def test_a_finished_sweep_runs_nothing_again(finished: dict) -> None:
    folder = Path(finished["result"]["sweep_dir"])
    again = runner.invoke(app, ["sweep", str(SPECS / "iris_sweep.yaml"), "--set", "train.epochs=2",
                                "--runs-dir", str(finished["runs"]), "--json"])
    assert again.exit_code == 0, again.output
    out = json.loads(again.stdout)
    assert out["sweep_dir"] == str(folder) and out["ran"] == 0 and len(out["trials"]) == 6
    resumed = runner.invoke(app, ["sweep", "--resume", str(folder), "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["ran"] == 0
    assert len(list((folder / "trials").glob("trial-*/"))) == 6
    assert len(list((finished["runs"] / "iris-sweep").glob("sweep-*"))) == 1


def test_an_invalid_variant_fails_before_the_first_trial(tmp_path: Path) -> None:
    text = (SPECS / "iris_sweep.yaml").read_text().replace("model.layers.hidden.units: [8, 16, 32, 64]",
                                                           "model.layers.hidden.units: {int: [0, 64]}")
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "hidden.units: {int" in ln)
    res = runner.invoke(app, ["sweep", str(spec), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2
    assert f"{spec}:{line}:5: sweep.space.model.layers.hidden.units: model.layers.hidden.units=0 is invalid: " \
           "model.layers[0].units: expected a positive integer" in res.stderr
    assert not (tmp_path / "runs").exists()


def test_a_grid_checks_every_combination(tmp_path: Path) -> None:
    text = (SPECS / "iris_sweep.yaml").read_text().replace("method: random", "method: grid").replace(
        "compile.optimizer.learning_rate: {log_uniform: [0.0001, 0.03]}", "compile.optimizer.learning_rate: [0.001, -1]")
    spec = tmp_path / "grid.yaml"
    spec.write_text(text)
    res = runner.invoke(app, ["sweep", str(spec), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2, res.output
    assert "compile.optimizer.learning_rate=-1 is invalid" in res.stderr
    grid = text.replace("[0.001, -1]", "{uniform: [0.001, 0.01]}")
    spec.write_text(grid)
    res = runner.invoke(app, ["sweep", str(spec), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2 and "a grid sweep needs values it can list" in res.stderr


def test_a_grid_runs_every_point_once_and_finishes(tmp_path: Path) -> None:
    """Optuna's GridSampler stopped the study after the last point (a RuntimeError outside
    study.optimize), and a seed that changed with each trial reshuffled the grid, so points
    repeated and others never ran."""
    spec = tmp_path / "grid.yaml"
    spec.write_text(
        "name: grid-iris\nseed: 1\ndata: {train: {type: sklearn, name: iris}, validation: {split: 0.2}}\n"
        "model:\n  inputs: {x: [4]}\n  layers:\n    - {name: hidden, type: Dense, units: 4}\n"
        "    - {type: Dense, units: 3, activation: softmax}\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}\n"
        "train: {epochs: 1}\n"
        "sweep:\n  method: grid\n  objective: {metric: val_accuracy, direction: max}\n"
        "  space:\n    model.layers.hidden.units: [2, 3, 5]\n")
    res = runner.invoke(app, ["sweep", str(spec), "--runs-dir", str(tmp_path / "runs"), "--json"])
    assert res.exit_code == 0, res.output
    trials = json.loads(res.stdout)["trials"]
    assert sorted(t["model.layers.hidden.units"] for t in trials) == [2, 3, 5]
    assert all(t["state"] == "completed" for t in trials)
