"""Pruned sweeps: each epoch's objective reported to the study through the warm worker's channel,
hopeless trials stopped there, recorded as pruned (study, trials.csv, run folder, picture), never
the best, never a failure; ``pruner: none`` prunes nothing.

One grid sweep of six iris trials is shared by the assertions: learning rates 0.05 and 0.02 learn
iris in a few epochs, 1e-6 does not move at all, so a 1e-6 trial that runs after the median's two
startup trials is judged hopeless at epoch 2 (the median's first verdict) and stops at the end of
epoch 3 (the worker reads each verdict one epoch later), whatever the order (fixed by the seed).
"""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerun.cli import app
from kerun.errors import SpecError
from kerun.spec import load_spec, spec_from_text

runner = CliRunner()

SPEC = """\
name: iris-pruned
seed: 0
data:
  train: {type: sklearn, name: iris}
  validation: {split: 0.2}
  targets: {encoding: one_hot}
model:
  inputs: {features: [4]}
  layers:
    - {type: Dense, units: 16, activation: relu, name: hidden}
    - {type: Dense, units: 3, activation: softmax}
compile:
  optimizer: {type: Adam, learning_rate: 0.001}
  loss: categorical_crossentropy
  metrics: [accuracy]
train:
  epochs: 6
  batch_size: 16
sweep:
  method: grid
  objective: {metric: val_accuracy, direction: max}
  pruner: median
  space:
    compile.optimizer.learning_rate: [0.05, 0.02, 0.000001]
    model.layers.hidden.units: [8, 16]
"""
LR = "compile.optimizer.learning_rate"


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("pruned")
    spec = root / "grid.yaml"
    spec.write_text(SPEC)
    res = runner.invoke(app, ["sweep", str(spec), "--runs-dir", str(root / "runs"), "--json"])
    assert res.exit_code == 0, res.output  # pruned trials are no failure
    result = json.loads(res.stdout)
    return {"spec": spec, "runs": root / "runs", "result": result, "folder": Path(result["sweep_dir"])}


def test_hopeless_trials_are_pruned_and_recorded_as_such(pruned: dict) -> None:
    trials = pruned["result"]["trials"]
    assert len(trials) == 6 and pruned["result"]["ran"] == 6
    states = [t["state"] for t in trials]
    assert "pruned" in states and set(states) <= {"completed", "pruned"}
    # every 1e-6 trial after the two startup trials: judged at epoch 2, the earliest allowed; stopped after 3
    late_hopeless = [t for t in trials[2:] if t[LR] == 1e-6]
    assert late_hopeless and all(t["state"] == "pruned" and t["pruned_at_epoch"] == 3 for t in late_hopeless)
    with open(pruned["folder"] / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state"] for r in rows] == states
    for row in rows:
        assert (row["pruned_at_epoch"] == "3") if row["state"] == "pruned" else row["pruned_at_epoch"] == ""
    assert json.loads((pruned["folder"] / "sweep.json").read_text())["status"] == "completed"


def test_a_pruned_trials_run_folder_is_whole_and_marked_pruned(pruned: dict) -> None:
    for t in pruned["result"]["trials"]:
        run = Path(t["run_dir"])
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["status"] == t["state"]
        for name in ("model.keras", "metrics.json", "history.csv", "curves.png"):
            assert (run / name).is_file(), (run, name)
        if t["state"] == "pruned":
            assert manifest["pruned_at_epoch"] == manifest["epochs_completed"] == 3
            assert len((run / "history.csv").read_text().splitlines()) == 1 + 3
        else:
            assert manifest["epochs_completed"] == 6 and "pruned_at_epoch" not in manifest
    res = runner.invoke(app, ["runs", "--runs-dir", str(pruned["folder"]), "--json"])
    assert res.exit_code == 0, res.output
    listed = {Path(r["path"]).name: r["status"] for r in json.loads(res.stdout)}
    assert listed == {Path(t["run_dir"]).name: t["state"] for t in pruned["result"]["trials"]}


def test_the_study_holds_every_epoch_and_the_pruned_state(pruned: dict) -> None:
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{pruned['folder'] / 'study.db'}")
    by_number = {t.number: t for t in study.get_trials()}
    for t in pruned["result"]["trials"]:
        frozen = by_number[t["trial"]]
        if t["state"] == "pruned":
            assert frozen.state == TrialState.PRUNED and sorted(frozen.intermediate_values) == [1, 2, 3]
        else:
            assert frozen.state == TrialState.COMPLETE and sorted(frozen.intermediate_values) == [1, 2, 3, 4, 5, 6]


def test_a_pruned_trial_is_never_the_best(pruned: dict) -> None:
    trials = pruned["result"]["trials"]
    best = pruned["result"]["best"]
    completed = [t for t in trials if t["state"] == "completed"]
    assert best["trial"] in {t["trial"] for t in completed}
    assert best["value"] == max(t["value"] for t in completed)
    assert best["params"][LR] in (0.05, 0.02)


def test_resuming_keeps_pruned_trials_pruned(pruned: dict) -> None:
    res = runner.invoke(app, ["sweep", "--resume", str(pruned["folder"]), "--json"])
    assert res.exit_code == 0, res.output
    again = json.loads(res.stdout)
    assert again["ran"] == 0
    assert [t["state"] for t in again["trials"]] == [t["state"] for t in pruned["result"]["trials"]]


def test_the_picture_draws_pruned_trials_apart(pruned: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kerun.orchestrate.sweep_report import plot_objective

    assert (pruned["folder"] / "objective.png").read_bytes()[:4] == b"\x89PNG"
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)  # keep the figure to look at what it drew
    rows = pruned["result"]["trials"]
    plot_objective(rows, pruned["folder"] / "look.png", "val_accuracy", maximize=True)
    ax = kept[0].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("pruned") for label in labels)
    series = {c.get_label(): c.get_offsets().tolist() for c in ax.collections}
    pruned_points = sorted((r["trial"], r["value"]) for r in rows if r["state"] == "pruned")
    drawn = sorted(map(tuple, series[next(k for k in series if k.startswith("pruned"))]))
    assert [x for x, _ in drawn] == [x for x, _ in pruned_points]
    assert [y for _, y in drawn] == pytest.approx([y for _, y in pruned_points])
    assert sorted(p[0] for p in series["trial"]) == [r["trial"] for r in rows if r["state"] == "completed"]
    monkeypatch.undo()
    plt.close(kept[0])


def test_pruner_none_prunes_nothing_and_reports_nothing(tmp_path: Path) -> None:
    import optuna

    spec = tmp_path / "grid.yaml"
    spec.write_text(SPEC.replace("pruner: median", "pruner: none"))
    res = runner.invoke(app, ["sweep", str(spec), "--set", "sweep.trials=2", "--set", "train.epochs=3",
                              "--runs-dir", str(tmp_path / "runs"), "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert [t["state"] for t in result["trials"]] == ["completed"] * 2
    assert all(json.loads((Path(t["run_dir"]) / "manifest.json").read_text())["epochs_completed"] == 3 for t in result["trials"])
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{Path(result['sweep_dir']) / 'study.db'}")
    assert all(not t.intermediate_values for t in study.get_trials())


# -- the spec key and its pruners (no TensorFlow, no trial) -------------------------------------


def test_the_pruner_key_is_checked_at_its_place(tmp_path: Path) -> None:
    text = SPEC.replace("pruner: median", "pruner: medain")
    with pytest.raises(SpecError) as err:
        spec_from_text(text, file="grid.yaml")
    message = err.value.render()
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "pruner:" in ln)
    assert f"grid.yaml:{line}:" in message and "'median'" in message and "'hyperband'" in message
    assert spec_from_text(SPEC, file="g.yaml").spec.sweep.pruner.type == "median"
    assert spec_from_text(SPEC.replace("  pruner: median\n", ""), file="g.yaml").spec.sweep.pruner.type == "none"
    # the editors' schema (kerun schema) takes the name and the mapping, and only those
    import jsonschema
    import yaml

    from kerun.spec.schema import json_schema

    check = jsonschema.Draft202012Validator(json_schema())
    for pruner, ok in (("median", True), ("{type: hyperband, min_epochs: 2}", True), ("medain", False),
                       ("{type: median, patience: 3}", False)):
        data = yaml.safe_load(SPEC.replace("pruner: median", f"pruner: {pruner}"))
        assert check.is_valid(data) is ok, pruner


def test_a_pruner_on_a_test_split_objective_is_refused_before_any_trial(tmp_path: Path) -> None:
    spec = tmp_path / "grid.yaml"
    spec.write_text(SPEC)
    res = runner.invoke(app, ["sweep", str(spec), "--set", "sweep.objective.metric=test_accuracy",
                              "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 2, res.output
    assert "sweep.pruner 'median' needs the objective after every epoch" in res.stderr
    assert "val_accuracy" in res.stderr  # the suggestion
    assert not (tmp_path / "runs").exists()


def test_the_pruners_settings(tmp_path: Path) -> None:
    import optuna

    from kerun.orchestrate.pruning import make_pruner

    spec = tmp_path / "g.yaml"
    spec.write_text(SPEC)
    median = make_pruner(load_spec(spec), trials=12)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps) == (3, 2)
    set_ = make_pruner(load_spec(spec, ["sweep.pruner={type: median, startup_trials: 1, min_epochs: 4}"]), trials=12)
    assert (set_._n_startup_trials, set_._n_warmup_steps) == (1, 4)
    hyper = make_pruner(load_spec(spec, ["sweep.pruner=hyperband"]), trials=12)
    assert isinstance(hyper, optuna.pruners.HyperbandPruner)
    assert (hyper._min_resource, hyper._max_resource) == (1, 6)
    assert isinstance(make_pruner(load_spec(spec, ["sweep.pruner=none"]), trials=12), optuna.pruners.NopPruner)


def test_the_reporter_answers_from_the_study() -> None:
    import optuna

    from kerun.orchestrate.pruning import Reporter

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2))
    first = study.ask()
    for epoch in (1, 2, 3):
        first.report(0.9, epoch)
    study.tell(first, 0.9)
    trial = study.ask()
    reporter = Reporter(trial, threading.Lock())
    assert reporter({"epoch": 1, "value": 0.1}) == {"prune": False}  # warm-up
    assert reporter({"kind": "report"}) == {"prune": False}  # a malformed report prunes nothing
    assert reporter({"epoch": 2, "value": 0.1}) == {"prune": True} and reporter.pruned_at == 2
    assert study.get_trials()[1].intermediate_values == {1: 0.1, 2: 0.1}
