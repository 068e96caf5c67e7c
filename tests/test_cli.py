"""The command line: exit codes and output of the TensorFlow-free commands."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from kerun_testing import EXAMPLES, SPECS
from kerun.cli import app

runner = CliRunner()
BAD = Path(__file__).parent / "spec" / "invalid"


def test_all_examples_validate() -> None:
    result = runner.invoke(app, ["validate", str(SPECS)])
    assert result.exit_code == 0, result.stdout + result.stderr
    # every spec found below specs/ (the examples, and specs in its subfolders) is valid
    found = re.fullmatch(r"ok: (\d+) of (\d+) specs valid\n", result.stdout)
    assert found and found.group(1) == found.group(2) and int(found.group(1)) >= len(EXAMPLES), result.stdout


def test_validate_mixed_files_reports_every_problem_and_exits_2() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES[0]), str(BAD / "misspelt_layer.yaml"), str(BAD / "negative_epochs.yaml")])
    assert result.exit_code == 2
    assert "unknown layer type 'Conv2d'" in result.stdout and "unknown layer type 'Flaten'" in result.stdout
    assert "train.epochs: expected a positive integer, got -5" in result.stdout
    assert "1 of 3 specs valid" in result.stderr


def test_validate_json_format() -> None:
    result = runner.invoke(app, ["validate", "--format", "json", str(BAD / "references.yaml"), str(EXAMPLES[0])])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["valid"] is False
    bad, good = data["specs"]
    assert good["valid"] is True and good["problems"] == []
    first = bad["problems"][0]
    assert set(first) == {"file", "line", "column", "path", "message", "hint", "note"}
    assert [p["line"] for p in bad["problems"]] == sorted(p["line"] for p in bad["problems"])


def test_validate_github_format() -> None:
    result = runner.invoke(app, ["validate", "--format", "github", str(BAD / "negative_epochs.yaml")])
    assert result.exit_code == 2
    line = result.stdout.strip()
    assert line.startswith("::error file=") and ",line=5,col=17::train.epochs: expected a positive integer" in line


def test_validate_with_override(tmp_path: Path) -> None:
    spec = SPECS / "iris_mlp.yaml"
    ok = runner.invoke(app, ["validate", str(spec), "--set", "train.epochs=3"])
    assert ok.exit_code == 0
    bad = runner.invoke(app, ["validate", str(spec), "--set", "train.epochs=-1"])
    assert bad.exit_code == 2
    assert "--set train.epochs=-1: train.epochs: expected a positive integer, got -1" in bad.stdout
    missing = runner.invoke(app, ["validate", str(spec), "--set", "model.layers.hiden.units=3"])
    assert missing.exit_code == 2 and "did you mean 'hidden'" in missing.stdout


def test_validate_missing_file() -> None:
    result = runner.invoke(app, ["validate", "no/such/spec.yaml"])
    assert result.exit_code == 2
    assert "no/such/spec.yaml: no such file" in result.stdout


def test_validate_of_a_folder_without_specs_fails(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no spec here")
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"kerun validate: no spec files found in {tmp_path}\n"
    as_json = runner.invoke(app, ["validate", str(tmp_path), "--format", "json"])
    assert as_json.exit_code == 2 and json.loads(as_json.stdout) == {"valid": False, "specs": []}


def test_explain_fills_defaults() -> None:
    result = runner.invoke(app, ["explain", str(SPECS / "iris_mlp.yaml")])
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["train"]["shuffle"] is True  # a kerun default
    assert data["compile"]["jit_compile"] == "auto"
    hidden = data["model"]["layers"][1]
    assert hidden["units"] == 32 and hidden["use_bias"] is True and hidden["kernel_initializer"] == "glorot_uniform"
    assert data["data"]["targets"] == {"encoding": "one_hot"}


def test_explain_of_invalid_spec_exits_2() -> None:
    result = runner.invoke(app, ["explain", str(BAD / "negative_epochs.yaml")])
    assert result.exit_code == 2
    assert "negative_epochs.yaml:5:17" in result.stderr


def test_schema_lists_layers_and_their_arguments() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    layer = schema["$defs"]["LayerSpec"]
    assert "Conv2D" in layer["properties"]["type"]["anyOf"][0]["anyOf"][0]["enum"]  # offered for completion
    dense = next(b for b in layer["allOf"] if b["if"]["properties"]["type"].get("const") == "Dense")  # aliases: a pattern
    assert "units" in dense["then"]["properties"] and dense["then"]["required"] == ["units"]
    assert {"required": ["model"]} in schema["anyOf"]  # or extends: a base may bring the model


def test_schema_validates_the_examples(tmp_path: Path) -> None:
    import jsonschema
    schema = json.loads(runner.invoke(app, ["schema"]).stdout)
    validator = jsonschema.Draft202012Validator(schema)  # once: checking a 2 MB schema takes seconds
    for spec in EXAMPLES:
        validator.validate(yaml.safe_load(spec.read_text()))


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("validate", "schema", "explain", "train", "eval", "predict", "check", "summary", "runs"):
        assert cmd in result.stdout


# ---------------------------------------------------------------------------------------------
# one handler for every command (kerun.cli.KerunGroup)


def test_a_kerun_error_from_any_command_is_reported_without_a_traceback(monkeypatch: Any) -> None:
    import kerun.spec
    import kerun.spec.schema
    from kerun.errors import PluginError, RunError

    def fails(*_a: Any, **_k: Any) -> None:
        raise RunError("the disk is full", hint="free some space")

    monkeypatch.setattr(kerun.spec.schema, "json_schema", fails)  # schema had no handler before
    result = runner.invoke(app, ["schema"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "the disk is full\n  free some space\n"
    assert isinstance(result.exception, SystemExit)

    def plugin_fails(*_a: Any, **_k: Any) -> None:
        raise PluginError("no plugin module 'nope'")

    monkeypatch.setattr(kerun.spec, "load_spec", plugin_fails)  # validate caught SpecError only
    result = runner.invoke(app, ["validate", "--format", "json", str(SPECS / "iris_mlp.yaml")])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"] == "PluginError"  # --format json: the error as JSON too


def test_json_errors_follow_the_json_option_not_a_parameter_name() -> None:
    result = runner.invoke(app, ["show", "no/such/run"])
    assert result.exit_code == 1 and "not a kerun run folder" in result.stderr and result.stdout == ""
    result = runner.invoke(app, ["runs", "--runs-dir", __file__, "--json"])  # a file, not a runs folder
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"][0]["message"] == f"{__file__} is not a folder"


def test_a_bug_in_kerun_keeps_its_traceback(monkeypatch: Any) -> None:
    import kerun.spec.schema

    def bug(*_a: Any, **_k: Any) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(kerun.spec.schema, "json_schema", bug)
    result = runner.invoke(app, ["schema"])
    assert isinstance(result.exception, ZeroDivisionError)


def test_tensorflow_commands_are_declared_with_the_command() -> None:
    from typer.main import get_command

    from kerun.cli import TENSORFLOW_COMMANDS

    names = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert TENSORFLOW_COMMANDS <= names
    assert TENSORFLOW_COMMANDS == {"train", "eval", "predict", "summary", "plot", "launch", "sweep", "import", "export"}
    assert not TENSORFLOW_COMMANDS & {"validate", "schema", "explain", "runs", "show", "check"}
