"""``kerun compare``: spec differences as --set paths, metrics side by side, curves in one PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerun.run.compare import NOT_SET, compare_runs, flatten
from kerun_testing import invoke_in

SPEC = """name: {name}
seed: 1
model:
  inputs: {{x: [4]}}
  layers:
    - {{name: hidden, type: Dense, units: {units}}}
    - {{type: Dense, units: 3, activation: softmax}}
compile: {{optimizer: {{type: Adam, learning_rate: {lr}}}, loss: sparse_categorical_crossentropy}}
train: {{epochs: {epochs}}}
"""


def fake_run(folder: Path, name: str, units: int, lr: float, epochs: int, acc: float, extra: str = "") -> Path:
    """A completed run folder as kerun train leaves it (the files compare reads)."""
    run = folder / name / "20260101T000000Z-abc123"
    run.mkdir(parents=True)
    (run / "spec.yaml").write_text(SPEC.format(name=name, units=units, lr=lr, epochs=epochs) + extra)
    (run / "manifest.json").write_text(json.dumps({"run_id": "abc123", "name": name, "status": "completed"}))
    (run / "metrics.json").write_text(json.dumps({"validation": {"accuracy": acc, "loss": 1 - acc}}))
    history = [{"epoch": e, "loss": 1.0 / e, "val_loss": 1.2 / e, "accuracy": acc * e / epochs} for e in range(1, epochs + 1)]
    (run / "history.json").write_text(json.dumps(history))
    return run


def test_flatten_addresses_list_entries_by_name_like_set() -> None:
    data = {"model": {"layers": [{"name": "hidden", "units": 8}, {"type": "Dense"}]}, "train": {"epochs": 3}}
    assert flatten(data) == {"model.layers.hidden.name": "hidden", "model.layers.hidden.units": 8,
                             "model.layers.1.type": "Dense", "train.epochs": 3}


def test_differences_metrics_and_histories(tmp_path: Path) -> None:
    a = fake_run(tmp_path, "small", 8, 0.001, 3, 0.8)
    b = fake_run(tmp_path, "wide", 64, 0.003, 5, 0.9, extra="description: wider\n")
    c = compare_runs([a, b])
    diffs = dict(c.differences)
    assert diffs["model.layers.hidden.units"] == [8, 64]
    assert diffs["compile.optimizer.learning_rate"] == [0.001, 0.003]
    assert diffs["name"] == ["small", "wide"] and diffs["train.epochs"] == [3, 5]
    assert diffs["description"] == [NOT_SET, "wider"]
    assert "model.layers.1.units" not in diffs and "seed" not in diffs  # equal values are not differences
    assert ("validation", "accuracy", [0.8, 0.9]) in c.metrics
    assert [len(h) for h in c.histories] == [3, 5]


def test_cli_compare_prints_tables_json_and_draws_the_curves(tmp_path: Path) -> None:
    a = fake_run(tmp_path, "small", 8, 0.001, 3, 0.8)
    b = fake_run(tmp_path, "wide", 64, 0.003, 5, 0.9)
    result = invoke_in(tmp_path, ["compare", str(a), str(b), "-o", "compare.png"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "model.layers.hidden.units" in result.stdout and "64" in result.stdout
    assert "0.9000" in result.stdout
    import matplotlib.image as mpimg

    picture = mpimg.imread(tmp_path / "compare.png")
    assert picture.shape[1] > 2 * picture.shape[0]  # one panel per metric side by side: loss, accuracy
    as_json = json.loads(invoke_in(tmp_path, ["compare", str(a), str(b), "--json"]).stdout)
    assert {d["path"] for d in as_json["differences"]} >= {"model.layers.hidden.units", "train.epochs"}
    assert [r["label"] for r in as_json["runs"]] == ["small", "wide"]  # the spec names, as they differ
    assert as_json["runs"][1]["path"] == str(b)


def test_compare_needs_two_run_folders(tmp_path: Path) -> None:
    a = fake_run(tmp_path, "small", 8, 0.001, 3, 0.8)
    one = invoke_in(tmp_path, ["compare", str(a)])
    assert one.exit_code == 1 and "at least two run folders" in one.stderr
    missing = invoke_in(tmp_path, ["compare", str(a), str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "not a kerun run folder" in missing.stderr
    assert "Traceback" not in one.stderr + missing.stderr
