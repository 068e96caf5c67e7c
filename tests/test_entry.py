"""The console script (kerun.entry): ``kerun validate``'s fast path prints what the Typer command
prints, exit code included, for every way of writing the arguments it reads; anything else goes to
Typer; the process loads neither Typer nor ``importlib.metadata``; one command's app is the app."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kerun_testing import ROOT, SPECS
from kerun.cli import app
from kerun.cli_app import app_for
from kerun.entry import fast_validate, plain_validate_args
from kerun.errors import SpecError

runner = CliRunner()
EX = str(SPECS / "iris_mlp.yaml")
BAD = Path(__file__).parent / "spec" / "invalid"

PLAIN = [
    [EX],
    [EX, "--set", "train.epochs=3"],
    [EX, "--set=train.epochs=-1"],
    ["--format", "json", str(BAD / "references.yaml"), EX],
    ["--format=github", str(BAD / "negative_epochs.yaml")],
    [EX, "--format", "json", "--format", "text"],  # the last one counts
    [str(SPECS)],
    ["no/such/spec.yaml"],
    [EX, "--set", "noequals"],
    [str(BAD / "misspelt_layer.yaml"), "--set", "train.epochs=2", "--set", "compile.loss=mse", EX],
]
NOT_PLAIN = [
    [], ["--help"], ["-h"], [EX, "--bogus"], [EX, "--format", "xml"], [EX, "--set"],
    [EX, "--set", "--format"], ["--", EX], [""], ["-"], ["--format", "json"],
]


@pytest.mark.parametrize("args", PLAIN, ids=lambda a: " ".join(Path(x).name if "/" in x else x for x in a))
def test_the_fast_path_prints_what_the_command_prints(args: list[str], capsys: Any) -> None:
    code = fast_validate(args)
    fast = capsys.readouterr()
    typer_run = runner.invoke(app, ["validate", *args])
    assert code == typer_run.exit_code
    assert (fast.out, fast.err) == (typer_run.stdout, typer_run.stderr)


@pytest.mark.parametrize("args", NOT_PLAIN, ids=repr)
def test_anything_else_is_left_to_typer(args: list[str], capsys: Any) -> None:
    assert plain_validate_args(args) is None
    assert fast_validate(args) is None and capsys.readouterr() == ("", "")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_folder_without_specs_fails_on_both_paths(fmt: str, tmp_path: Path, capsys: Any) -> None:
    code = fast_validate([str(tmp_path), "--format", fmt])
    fast = capsys.readouterr()
    typer_run = runner.invoke(app, ["validate", str(tmp_path), "--format", fmt])
    assert code == typer_run.exit_code == 2
    assert (fast.out, fast.err) == (typer_run.stdout, typer_run.stderr)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_error_outside_a_spec_is_reported_as_the_app_reports_it(fmt: str, monkeypatch: Any, capsys: Any) -> None:
    def refuse(paths: Any) -> Any:
        raise SpecError("the folder cannot be listed", hint="check its permissions")

    monkeypatch.setattr("kerun.spec.discover.find_specs", refuse)
    code = fast_validate([EX, "--format", fmt])
    fast = capsys.readouterr()
    typer_run = runner.invoke(app, ["validate", EX, "--format", fmt])
    assert code == typer_run.exit_code == 2
    assert (fast.out, fast.err) == (typer_run.stdout, typer_run.stderr)
    assert "the folder cannot be listed" in (fast.out if fmt == "json" else fast.err)


def _modules_imported(stderr: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^import time:.*\|\s*(\S+)\s*$", stderr, re.M)}


def test_the_validate_process_loads_neither_typer_nor_package_metadata() -> None:
    ok = subprocess.run([sys.executable, "-X", "importtime", "-m", "kerun", "validate", EX],
                        capture_output=True, text=True, cwd=ROOT)
    assert (ok.returncode, ok.stdout) == (0, "ok: 1 of 1 spec valid\n"), ok.stderr[-2000:]
    loaded = _modules_imported(ok.stderr)
    assert "kerun.spec.root" in loaded  # the recording sees the path
    assert {"typer", "importlib.metadata", "pydantic.plugin._loader"} & loaded == set()
    bad = subprocess.run([sys.executable, "-m", "kerun", "validate", str(BAD / "negative_epochs.yaml")],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "train.epochs: expected a positive integer" in bad.stdout
    assert bad.stderr.endswith("0 of 1 spec valid\n")
    helped = subprocess.run([sys.executable, "-m", "kerun", "validate", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: python -m kerun validate [OPTIONS]")


def test_specs_checked_in_a_fresh_process_get_the_problems_found_in_this_one() -> None:
    # the fresh process builds pydantic's validators itself (kerun.spec.base.no_pydantic_plugins)
    args = ["validate", "--format", "json", str(SPECS), str(BAD)]
    fresh = subprocess.run([sys.executable, "-m", "kerun", *args], capture_output=True, text=True, cwd=ROOT)
    here = runner.invoke(app, args)
    assert fresh.returncode == here.exit_code == 2
    found = json.loads(fresh.stdout)
    assert found == json.loads(here.stdout)
    assert sum(not s["valid"] for s in found["specs"]) > 40 and sum(s["valid"] for s in found["specs"]) > 25


def test_one_commands_app_parses_and_helps_as_the_whole_app() -> None:
    def names(a: Any) -> list[str]:
        return [c.name or c.callback.__name__.replace("_", "-") for c in a.registered_commands]

    assert {"validate", "train", "check", "sweep", "import", "export"} <= set(names(app))
    for name in names(app):
        one = app_for(name)
        assert names(one) == [name]
        assert runner.invoke(one, [name, "--help"]).stdout == runner.invoke(app, [name, "--help"]).stdout
    assert runner.invoke(app_for("validate"), ["validate", EX, "--bogus"]).stderr == runner.invoke(app, ["validate", EX, "--bogus"]).stderr
    assert app_for("valdate") is app and app_for("--help") is app and app_for(None) is app


def test_the_fast_path_knows_every_option_of_the_validate_command() -> None:
    # an option added to `kerun validate` and not to plain_validate_args would still work (Typer
    # takes it), only slower: this names it instead
    import typer.main

    command = typer.main.get_command(app).commands["validate"]  # type: ignore[attr-defined]
    options = {o for p in command.params if not p.hidden for o in p.opts if o.startswith("-")}
    assert options - {"-h", "--help"} == {"--set", "--format"}
    for option in ("--set", "--format"):
        assert plain_validate_args([EX, option, "json"]) is not None
