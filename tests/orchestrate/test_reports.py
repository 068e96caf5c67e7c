"""What ``kerun check`` reports to CI: GitHub workflow commands and JUnit XML (no TensorFlow)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kerun.errors import Location, Problem
from kerun.orchestrate.check import CheckResult, github_annotations, junit_xml

NODE_MODULES = Path(__file__).resolve().parents[1] / "lsp" / "node_modules"

SPEC = """\
name: odd
model:
  inputs: {x: [4]}
  layers:
    - {type: Dense, units: 3}
compile:
  optimizer: adam
  loss: categorical_crossentropy
"""


def _actions_core(properties: dict[str, object], message: str) -> str:
    """What GitHub's own @actions/core prints for this command."""
    script = ("const c = require('@actions/core/lib/command');"
              "const [p, m] = JSON.parse(process.argv[1]); c.issueCommand('error', p, m);")
    done = subprocess.run(["node", "-e", script, json.dumps([properties, message])], capture_output=True, text=True,
                          cwd=NODE_MODULES.parent, check=True)
    return done.stdout.rstrip("\n")


def test_github_properties_and_message_are_escaped_as_actions_core_does(tmp_path: Path) -> None:
    spec = tmp_path / "a,b:c%d.yaml"
    spec.write_text(SPEC)
    problem = Problem(message="50% of it\r\nis: wrong, really", location=Location(str(spec), 5, 7), hint="fix it")
    line = github_annotations([CheckResult(spec=str(spec), result="failed", stage="train", problems=[problem])])
    escaped = str(spec).replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
    assert line == f"::error file={escaped},line=5,col=7::50%25 of it%0D%0Ais: wrong, really%0Afix it"
    if shutil.which("node") is None or not (NODE_MODULES / "@actions" / "core").is_dir():
        pytest.skip("@actions/core is not installed in tests/lsp/node_modules (.ci/run installs it)")
    assert line == _actions_core({"file": str(spec), "line": 5, "col": 7}, "50% of it\r\nis: wrong, really\nfix it")


def test_annotations_never_point_at_the_deleted_temporary_run_folder(tmp_path: Path) -> None:
    spec = tmp_path / "odd.yaml"
    spec.write_text(SPEC)
    gone = Location("/tmp/kerun-check-x1y2/runs/odd/20261201T000000Z-abc123/spec.yaml", 9, 3)
    problems = [Problem(message="the loss does not fit the output", location=gone, path=("compile", "loss")),
                Problem(message="no path", location=gone)]
    lines = github_annotations([CheckResult(spec=str(spec), result="failed", stage="train", problems=problems)])
    assert "kerun-check-" not in lines
    first, second = lines.splitlines()
    assert first.startswith(f"::error file={spec},line=8,col=9::compile.loss: ")  # where the spec writes the loss
    assert second.startswith(f"::error file={spec},line=1,col=1::")


def test_junit_has_timestamp_hostname_log_and_the_spec_location(tmp_path: Path) -> None:
    spec = tmp_path / "odd.yaml"
    spec.write_text(SPEC)
    started = dt.datetime(2026, 12, 1, 9, 30, 5, tzinfo=dt.timezone.utc).timestamp()
    failed = CheckResult(spec=str(spec), result="failed", stage="train", seconds=3.5, message="training failed",
                         problems=[Problem(message="bad loss", location=Location(str(spec), 8, 9), path=("compile", "loss"))],
                         started_at=started, log=["Epoch 1/1\n", "\x1b[1mloss: nan\x1b[0m\n"])
    passed = CheckResult(spec=str(spec.with_name("good.yaml")), result="passed", stage="evaluate", seconds=1.0,
                         started_at=started, log=["Epoch 1/1", "ok"])
    root = ET.fromstring(junit_xml([failed, passed], hostname="ci-7"))
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "0")
    bad, good = root.findall("testsuite")
    assert bad.get("timestamp") == "2026-12-01T09:30:05" and bad.get("hostname") == "ci-7"
    assert {p.get("name"): p.get("value") for p in bad.iter("property")} == {"file": str(spec), "line": "8", "stage": "train"}
    assert bad.find("testcase/failure").get("type") == "train"
    assert bad.find("system-out").text == "Epoch 1/1\nloss: nan\n"  # colour codes are not XML
    assert {p.get("name"): p.get("value") for p in good.iter("property")}["line"] == "1"
    assert good.find("system-out").text == "Epoch 1/1\nok\n" and good.find("testcase").findall("*") == []
