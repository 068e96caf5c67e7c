"""kerun check: a folder with a good, an invalid, an unbuildable and a data-less spec."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from kerun.cli import app

runner = CliRunner()

GOOD = """\
name: good
seed: 1
data:
  train: {type: synthetic, size: 64, fields: {x: {shape: [4]}, label: {classes: 2}}}
  validation: {split: 0.25}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 8, activation: relu}
    - {type: Dense, units: 2, activation: softmax}
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
train: {epochs: 50, batch_size: 8}
"""

INVALID = """\
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: -1}
compile: {loss: mse}
"""

BUILD_FAILS = """\
data:
  train: {type: synthetic, size: 64, fields: {x: {shape: [4]}, y: {shape: [1]}}}
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 8}
    - {type: Conv2D, filters: 4, kernel_size: 3}
compile: {loss: mse}
"""

NO_DATA = """\
data:
  train: {type: csv, path: ragged.csv, label: y}
model:
  inputs: {x: [3]}
  layers:
    - {type: Dense, units: 1}
compile: {loss: mse}
"""


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, dict[str, dict], Path, Path]:
    folder = tmp_path_factory.mktemp("specs")
    for name, text in (("good", GOOD), ("invalid", INVALID), ("build_fails", BUILD_FAILS), ("no_data", NO_DATA)):
        (folder / f"{name}.yaml").write_text(text)
    (folder / "ragged.csv").write_text("a,b,c,y\n1,2,3,0\n4,5\n")  # exists (validate passes), unreadable (stage data)
    junit = folder.parent / "junit.xml"
    result = runner.invoke(app, ["check", str(folder), "--json", "--junit", str(junit), "--jobs", "2", "--steps", "2"])
    data = json.loads(result.stdout)
    by_name = {Path(r["spec"]).stem: r for r in data["results"]}
    return result, by_name, junit, folder


def test_stages_and_results(checked: tuple) -> None:
    result, by_name, _, _ = checked
    assert result.exit_code == 2  # an invalid spec outranks failures
    assert by_name["good"]["result"] == "passed" and by_name["good"]["stage"] == "evaluate"
    assert by_name["invalid"]["result"] == "invalid" and by_name["invalid"]["stage"] == "validate"
    assert by_name["build_fails"]["result"] == "failed" and by_name["build_fails"]["stage"] == "build"
    assert by_name["no_data"]["result"] == "failed" and by_name["no_data"]["stage"] == "data"
    assert "Conv2D" in by_name["build_fails"]["message"]
    assert "ragged.csv" in by_name["no_data"]["message"] and "short row" in by_name["no_data"]["message"]
    # problems carry the spec's line
    assert by_name["build_fails"]["problems"][0]["line"] == 7
    assert by_name["invalid"]["problems"][0]["line"] == 4


def test_junit_report(checked: tuple) -> None:
    _, _, junit, _ = checked
    suites = ET.parse(junit).getroot()  # a testsuite per spec (tests/orchestrate/test_reports.py)
    assert suites.tag == "testsuites" and suites.get("tests") == "4"
    assert suites.get("failures") == "2" and suites.get("errors") == "1"
    cases = {Path(c.get("name")).stem: c for c in suites.iter("testcase")}
    assert list(cases["good"]) == []
    assert cases["build_fails"].find("failure").get("type") == "build"
    assert cases["no_data"].find("failure").get("type") == "data"
    assert cases["invalid"].find("error").get("type") == "validate"


def test_github_annotations_point_at_lines(checked: tuple, tmp_path: Path) -> None:
    _, _, _, folder = checked
    result = runner.invoke(app, ["check", str(folder / "build_fails.yaml"), str(folder / "invalid.yaml"), "--format", "github", "--steps", "1"])
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("::error file=") and "build_fails.yaml,line=7,col=7::" in line for line in lines)
    assert any("invalid.yaml,line=4,col=28::model.layers[0].units" in line for line in lines)


def test_only_good_specs_exit_0(checked: tuple) -> None:
    _, _, _, folder = checked
    result = runner.invoke(app, ["check", str(folder / "good.yaml"), "--steps", "1"])
    assert result.exit_code == 0, result.stderr
    assert "1 passed, 0 failed, 0 invalid" in result.stderr


def test_synthetic_data_when_the_real_data_is_missing(checked: tuple) -> None:
    _, _, _, folder = checked
    result = runner.invoke(app, ["check", str(folder / "no_data.yaml"), "--synthetic", "--steps", "1", "--json"])
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["results"][0]["result"] == "passed"


def test_timeout_fails_the_spec(checked: tuple) -> None:
    _, _, _, folder = checked
    result = runner.invoke(app, ["check", str(folder / "good.yaml"), "--timeout", "1", "--json"])
    assert result.exit_code == 1
    entry = json.loads(result.stdout)["results"][0]
    assert entry["result"] == "failed" and "timed out" in entry["message"]


def test_train_smoke_runs_the_same_stages(checked: tuple) -> None:
    _, _, _, folder = checked
    result = runner.invoke(app, ["train", str(folder / "good.yaml"), "--smoke", "--json"])
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["results"][0]["stage"] == "evaluate"
