"""The evaluation report chosen from the task (issue 23 point 10): the task decided from the
output and the target, the numbers checked against scikit-learn on fixed arrays, every terminal
rendering readable at 80 columns (golden files in eval_report/), and one tiny trained run with a
per-pixel output and a regression output, reported by train, eval and show.

Rewrite the golden files after a deliberate change with ``KERUN_UPDATE_GOLDENS=1 python -m pytest
tests/run/test_eval_report.py`` and review the diff.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerun.console import evaluation_report
from kerun.run.eval_report import accumulator, report_lines, roc_auc
from kerun.run.tasks import OutputFacts, choose_task
from kerun_testing import assert_golden

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "eval_report"


def render(parts: list[Any], width: int = 80) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, highlight=False, legacy_windows=False)
    for part in parts:
        console.print(part)
    return console.file.getvalue()  # type: ignore[attr-defined]


def report_of(facts: OutputFacts, y: np.ndarray, p: np.ndarray, names: list[str] | None = None,
              batch: int = 7) -> dict[str, Any]:
    """The report as kerun.run.evaluate gathers it: batch by batch."""
    task = choose_task(facts)
    acc = accumulator(task, facts.name)
    for i in range(0, len(y), batch):
        acc.add(y[i:i + batch], p[i:i + batch])
    return {"output": facts.name, "task": task.kind, "why": task.why, **acc.report(names)}


# ---------------------------------------------------------------------------------------------
# the task


def facts(shape: tuple[int, ...], target: tuple[int, ...], activation: str | None = None, loss: str | None = None,
          **kw: Any) -> OutputFacts:
    return OutputFacts("out", shape, target, activation=activation, loss=loss, **kw)


TASKS = [
    ("regression", facts((1,), (1,), "linear", "mse")),
    ("regression", facts((3,), (3,), None, "mean_absolute_error")),
    ("regression", facts((1,), (), "linear", "mse", target_integer=True)),  # counts: the loss says regression
    ("binary", facts((1,), (), "sigmoid", "binary_crossentropy", target_integer=True)),
    ("binary", facts((1,), (), "linear", "binary_crossentropy", from_logits=True, target_integer=True)),
    ("binary", facts((2,), (), "softmax", "sparse_categorical_crossentropy", target_integer=True)),
    ("multiclass", facts((3,), (), "softmax", "sparse_categorical_crossentropy", target_integer=True)),
    ("multiclass", facts((10,), (10,), "softmax", "categorical_crossentropy", target_integer=True)),
    ("multiclass", facts((5,), (), None, None, target_integer=True)),  # a custom loss: the whole-number targets say
    ("many-classes", facts((93,), (), "softmax", "sparse_categorical_crossentropy", target_integer=True)),
    ("multilabel", facts((6,), (6,), "sigmoid", "binary_crossentropy", target_integer=True)),
    ("segmentation", facts((16, 16, 3), (16, 16), "softmax", "sparse_categorical_crossentropy", target_integer=True)),
    ("segmentation", facts((16, 16, 1), (16, 16, 1), "sigmoid", "binary_crossentropy", target_integer=True)),
    ("sequence", facts((12, 40), (12,), "softmax", "sparse_categorical_crossentropy", target_integer=True)),
    ("sequence", facts((None, 12), (9,), "softmax", "sparse_categorical_crossentropy", target_integer=True)),  # seq2seq
    ("reconstruction", facts((28, 28, 1), (28, 28, 1), "relu", "mse", target_is_input=True)),
    # a per-pixel reconstruction of 0/1 images with mse: values, not a 2x2 confusion matrix
    ("reconstruction", facts((28, 28, 1), (28, 28, 1), "sigmoid", "mse", target_integer=True)),
    ("reconstruction", facts((32, 4), (32, 4), "linear", "huber")),
]


@pytest.mark.parametrize("kind, given", TASKS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(TASKS)])
def test_the_task_is_chosen_from_the_output_and_the_target(kind: str, given: OutputFacts) -> None:
    task = choose_task(given)
    assert task.kind == kind, task.why
    assert task.why  # said to the user: which facts decided
    if kind in ("binary", "multiclass", "many-classes", "segmentation", "sequence", "multilabel"):
        assert task.classes == (given.shape[-1] if given.shape[-1] > 1 else 2)


# ---------------------------------------------------------------------------------------------
# the numbers, against scikit-learn


def test_multiclass_numbers_match_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 101)
    y[y == 3] = 2  # class 3 is never the target; it is predicted below
    p = rng.random((101, 4))
    p[np.arange(101), y] += 0.4
    r = report_of(facts((4,), (), "softmax", "sparse_categorical_crossentropy", target_integer=True), y, p)
    pred = p.argmax(axis=1)
    prec, rec, f1, n = metrics.precision_recall_fscore_support(y, pred, labels=range(4), zero_division=0)
    rows = r["classes"]
    np.testing.assert_allclose([c["precision"] for c in rows], prec)
    np.testing.assert_allclose([c["recall"] for c in rows], rec)
    np.testing.assert_allclose([c["f1"] for c in rows], f1)
    assert [c["support"] for c in rows] == n.tolist()
    assert r["confusion_matrix"]["matrix"] == metrics.confusion_matrix(y, pred, labels=range(4)).tolist()
    assert r["summary"]["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert r["summary"]["macro F1"] == pytest.approx(metrics.f1_score(y, pred, average="macro", zero_division=0))
    assert r["summary"]["weighted F1"] == pytest.approx(metrics.f1_score(y, pred, average="weighted", zero_division=0))


def test_one_hot_targets_count_as_their_class() -> None:
    y = np.array([0, 1, 2, 2, 1])
    p = np.eye(3)[[0, 1, 1, 2, 1]]
    r = report_of(facts((3,), (3,), "softmax", "categorical_crossentropy", target_integer=True), np.eye(3)[y], p)
    assert r["confusion_matrix"]["matrix"] == [[1, 0, 0], [0, 2, 0], [0, 1, 1]]


def test_binary_numbers_match_scikit_learn_logits_and_tied_scores_included() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 90)
    z = np.round(y * 1.5 + rng.normal(size=90), 1)  # rounded: tied scores
    r = report_of(facts((1,), (), "linear", "binary_crossentropy", from_logits=True, target_integer=True), y, z[:, None])
    pred = (z > 0).astype(int)  # a logit above 0 is a probability above 0.5
    s = r["summary"]
    assert s["ROC AUC"] == pytest.approx(metrics.roc_auc_score(y, z))
    assert s["precision"] == pytest.approx(metrics.precision_score(y, pred))
    assert s["recall"] == pytest.approx(metrics.recall_score(y, pred))
    assert s["f1"] == pytest.approx(metrics.f1_score(y, pred))
    assert r["confusion_matrix"]["matrix"] == metrics.confusion_matrix(y, pred).tolist()
    assert roc_auc(np.zeros(5), np.arange(5)) is None  # one class only: not computable


def test_many_classes_summary_matches_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    y = rng.integers(0, 93, 500)
    p = rng.random((500, 93))
    p[np.arange(500), y] += rng.random(500) * 0.8
    r = report_of(facts((93,), (), "softmax", "sparse_categorical_crossentropy", target_integer=True), y, p, batch=64)
    assert r["task"] == "many-classes"
    assert r["summary"]["top-5 accuracy"] == pytest.approx(metrics.top_k_accuracy_score(y, p, k=5, labels=range(93)))
    assert r["summary"]["macro F1"] == pytest.approx(metrics.f1_score(y, p.argmax(1), average="macro", zero_division=0))
    assert len(r["classes"]) == 93  # all of them in the run folder's files, not the terminal


def test_segmentation_iou_matches_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, (6, 8, 8))
    p = rng.random((6, 8, 8, 3))
    p[..., 1] += (y == 1) * 0.7
    r = report_of(facts((8, 8, 3), (8, 8), "softmax", "sparse_categorical_crossentropy", target_integer=True), y, p, batch=4)
    t, pred = y.reshape(-1), p.argmax(-1).reshape(-1)
    np.testing.assert_allclose([c["iou"] for c in r["classes"]], metrics.jaccard_score(t, pred, average=None))
    assert r["summary"]["mean IoU"] == pytest.approx(metrics.jaccard_score(t, pred, average="macro"))
    assert r["summary"]["pixel accuracy"] == pytest.approx(metrics.accuracy_score(t, pred))
    assert r["counted"] == 6 * 8 * 8 and r["examples"] == 6


def test_regression_numbers_match_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    y = rng.normal(size=(50, 2)) * [1.0, 10.0]
    p = y + rng.normal(size=(50, 2))
    r = report_of(facts((2,), (2,), "linear", "mse"), y, p)
    assert "confusion_matrix" not in r and "classes" not in r
    for j, col in enumerate(r["columns"]):
        assert col["MAE"] == pytest.approx(metrics.mean_absolute_error(y[:, j], p[:, j]))
        assert col["RMSE"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y[:, j], p[:, j])))
        assert col["R2"] == pytest.approx(metrics.r2_score(y[:, j], p[:, j]))
    assert r["residuals"]["median"] == pytest.approx(np.median(p - y))
    assert r["residuals"]["max |r|"] == pytest.approx(np.abs(p - y).max())


def test_multilabel_numbers_match_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, (40, 5))
    p = np.clip(y * 0.4 + rng.random((40, 5)) * 0.7, 0, 1)
    r = report_of(facts((5,), (5,), "sigmoid", "binary_crossentropy", target_integer=True), y, p)
    pred = (p > 0.5).astype(int)
    s = r["summary"]
    assert s["exact match"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert s["hamming loss"] == pytest.approx(metrics.hamming_loss(y, pred))
    assert s["micro F1"] == pytest.approx(metrics.f1_score(y, pred, average="micro"))
    assert s["macro F1"] == pytest.approx(metrics.f1_score(y, pred, average="macro", zero_division=0))


def test_reconstruction_is_measured_over_every_value() -> None:
    rng = np.random.default_rng(7)
    y = rng.random((9, 6, 6, 1))
    p = y + rng.normal(scale=0.1, size=y.shape)
    r = report_of(facts((6, 6, 1), (6, 6, 1), "sigmoid", "mse", target_is_input=True), y, p, batch=4)
    assert r["task"] == "reconstruction" and "confusion_matrix" not in r
    assert r["summary"]["MSE"] == pytest.approx(((p - y) ** 2).mean())
    assert r["summary"]["MAE"] == pytest.approx(np.abs(p - y).mean())
    assert r["values"] == y.size


# ---------------------------------------------------------------------------------------------
# what a terminal 80 columns wide shows


def _cases() -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng(10)
    out: dict[str, dict[str, Any]] = {}
    y = rng.integers(0, 93, 400)
    p = rng.random((400, 93))
    p[np.arange(400), y] += rng.random(400) * 1.5
    out["many_classes"] = report_of(facts((93,), (), "softmax", "sparse_categorical_crossentropy", target_integer=True),
                                    y, p, [f"product_category_{i}" for i in range(93)], batch=64)
    y = rng.integers(0, 3, 60)
    p = rng.random((60, 3))
    p[np.arange(60), y] += 0.5
    out["multiclass"] = report_of(facts((3,), (), "softmax", "sparse_categorical_crossentropy", target_integer=True),
                                  y, p, ["setosa", "versicolor", "virginica"])
    y = rng.integers(0, 12, 240)
    p = rng.random((240, 12))
    p[np.arange(240), y] += 0.6
    out["twelve_long_names"] = report_of(facts((12,), (), "softmax", "categorical_crossentropy", target_integer=True),
                                         y, p, [f"a rather long class name {i}" for i in range(12)])
    y = rng.integers(0, 2, 80)
    out["binary"] = report_of(facts((1,), (), "sigmoid", "binary_crossentropy", target_integer=True),
                              y, np.clip(y * 0.5 + rng.random(80) * 0.6, 0, 1)[:, None])
    y = rng.normal(size=(70, 2))
    out["regression"] = report_of(facts((2,), (2,), "linear", "mse"), y, y + rng.normal(scale=0.3, size=(70, 2)))
    y = rng.integers(0, 3, (5, 8, 8))
    p = rng.random((5, 8, 8, 3))
    p[..., 0] += (y == 0) * 0.6
    out["segmentation"] = report_of(facts((8, 8, 3), (8, 8), "softmax", "sparse_categorical_crossentropy",
                                          target_integer=True), y, p)
    y = rng.integers(0, 30, (6, 9))
    p = rng.random((6, 9, 30))
    p[..., 4] += 0.5
    out["sequence_many"] = report_of(facts((None, 30), (9,), "softmax", "sparse_categorical_crossentropy",
                                           target_integer=True), y, p)
    y = rng.random((10, 6, 6, 1))
    out["reconstruction"] = report_of(facts((6, 6, 1), (6, 6, 1), "sigmoid", "mse", target_is_input=True),
                                      y, y + rng.normal(scale=0.05, size=y.shape))
    y = rng.integers(0, 2, (30, 4))
    out["multilabel"] = report_of(facts((4,), (4,), "sigmoid", "binary_crossentropy", target_integer=True),
                                  y, rng.random((30, 4)), ["cat", "dog", "[UNK]", "bird"])
    for name, r in out.items():
        r["files"] = [f"eval-test-classes.csv"] if r.get("classes") else []
        if r.get("confusion_matrix"):
            r["files"].append("confusion-test.png")
        r["output"] = name
    return out


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_80_column_rendering_matches_its_golden_file(name: str) -> None:
    assert_golden(GOLDEN / name, render(evaluation_report(CASES[name])), suffix=".txt")


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_line_fits_80_columns_and_no_header_is_cut(name: str) -> None:
    lines = render(evaluation_report(CASES[name])).splitlines()
    assert all(len(line) <= 80 for line in lines)
    for i, line in enumerate(lines):
        if line.startswith("───"):  # the line under a table's header
            assert "…" not in lines[i - 1] and "..." not in lines[i - 1]


def test_93_classes_show_the_summary_and_the_worst_classes_only() -> None:
    text = render(evaluation_report(CASES["many_classes"]))
    lines = text.splitlines()
    assert len(lines) <= 30
    assert "top-5 accuracy" in text and "the 10 worst of 93 classes (by F1)" in text
    assert "all 93 classes: eval-test-classes.csv" in text and "confusion matrix" not in text


def test_a_regression_prints_no_confusion_matrix() -> None:
    text = render(evaluation_report(CASES["regression"]))
    assert "confusion" not in text and "R^2" in text and "residuals" in text


def test_a_per_pixel_model_gets_iou_not_a_two_by_two_matrix() -> None:
    text = render(evaluation_report(CASES["segmentation"]))
    assert "mean IoU" in text and "iou" in text.split("\n")[4] and "confusion matrix" not in text


def test_long_file_names_go_one_a_line_rather_than_wrap() -> None:
    report = {**CASES["binary"], "files": ["eval-validation-department-classes.csv", "confusion-validation-department.png"]}
    lines = render(evaluation_report(report)).splitlines()
    assert lines[-3:] == ["  files:", "    eval-validation-department-classes.csv", "    confusion-validation-department.png"]


def test_a_matrix_too_wide_for_the_terminal_is_named_not_drawn() -> None:
    narrow = render(evaluation_report(CASES["twelve_long_names"]), width=60)
    assert "  confusion matrix: too wide here, see confusion-test.png\n" in narrow
    assert all(len(line) <= 60 for line in narrow.splitlines())
    assert "confusion matrix (rows: true" in render(evaluation_report(CASES["twelve_long_names"]))  # it fits 80


# ---------------------------------------------------------------------------------------------
# one tiny trained run: a per-pixel output beside a regression output, listed in the spec
# in another order than Keras keeps them

TWO_HEADS = """\
name: two-heads
seed: 3
data:
  train:
    type: synthetic
    size: 48
    fields: {img: {shape: [6, 6, 1]}, mask: {shape: [6, 6], classes: 3}, value: {shape: [2], distribution: normal}}
  validation: {split: 0.25}
model:
  inputs: {img: [6, 6, 1]}
  layers:
    - {type: Conv2D, name: features, filters: 4, kernel_size: 3, padding: same, activation: relu}
    - {type: Conv2D, name: mask, filters: 3, kernel_size: 1, activation: softmax, inputs: features}
    - {type: Flatten, name: flat, inputs: features}
    - {type: Dense, name: value, units: 2, inputs: flat}
  outputs: [value, mask]  # Keras orders its outputs by name: mask, value
compile: {optimizer: adam, loss: {mask: sparse_categorical_crossentropy, value: mse}}
train: {epochs: 1, batch_size: 16}
"""


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kerun.run.train import TrainOptions, train_file

    folder = tmp_path_factory.mktemp("two_heads")
    (folder / "two.yaml").write_text(TWO_HEADS)
    return Path(train_file(folder / "two.yaml", [], TrainOptions(runs_dir=folder / "runs", progress="quiet")).run_dir)


def test_train_writes_one_report_per_output(two_heads: Path) -> None:
    result = json.loads((two_heads / "eval-validation.json").read_text())
    value, mask = result["reports"]  # in the spec's order
    assert (mask["output"], mask["task"], value["output"], value["task"]) == ("mask", "segmentation", "value", "regression")
    assert mask["counted"] == 12 * 36 and mask["summary"]["mean IoU"] is not None
    assert "confusion_matrix" not in result  # no 2x2 matrix of a per-pixel output at the top
    assert "columns" in value and "confusion_matrix" not in value
    assert mask["files"] == ["eval-validation-mask-classes.csv", "confusion-validation-mask.png"]
    csv = (two_heads / "eval-validation-mask-classes.csv").read_text().splitlines()
    assert csv[0] == "class,precision,recall,f1,support,predicted,iou" and len(csv) == 4
    assert (two_heads / "confusion-validation-mask.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_and_show_read_the_reports_back(two_heads: Path) -> None:
    from typer.testing import CliRunner

    from kerun.cli import app

    runner = CliRunner()
    got = runner.invoke(app, ["eval", str(two_heads), "--split", "validation"], env={"COLUMNS": "80"})
    assert got.exit_code == 0, got.stderr
    assert "mask: segmentation" in got.stdout and "mean IoU" in got.stdout and "value: regression" in got.stdout
    assert "confusion matrix (rows" not in got.stdout
    lines = report_lines(two_heads)
    assert lines[0].startswith("  eval validation, value (regression): MAE ")
    assert lines[1].startswith("  eval validation, mask (segmentation): pixel accuracy ")
    shown = runner.invoke(app, ["show", str(two_heads)])
    assert shown.exit_code == 0 and lines[1] in shown.stdout

