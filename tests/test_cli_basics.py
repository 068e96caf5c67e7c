"""The command line's conventions: --version, -h, Typer's shell completion, '-' for standard input."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from typer.testing import CliRunner

from kerun import __version__
from kerun.cli import app
from kerun_testing import SPECS

runner = CliRunner()


def test_version_names_kerun_tensorflow_and_keras() -> None:
    for flag in ("--version", "-V"):
        result = runner.invoke(app, [flag])
        assert result.exit_code == 0
        assert result.stdout.startswith(f"kerun {__version__}, TensorFlow {metadata.version('tensorflow')}, "
                                        f"Keras {metadata.version('keras')}")


def test_short_help_everywhere() -> None:
    top = runner.invoke(app, ["-h"])
    assert top.exit_code == 0 and "Usage: kerun" in top.stdout and "validate" in top.stdout
    sub = runner.invoke(app, ["validate", "-h"])
    assert sub.exit_code == 0 and "Usage: kerun validate" in sub.stdout


def test_shell_completion_is_typers_own() -> None:
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout
    env = {**os.environ, "_KERUN_COMPLETE": "complete_bash", "COMP_WORDS": "kerun val", "COMP_CWORD": "1"}
    kerun = Path(sys.executable).with_name("kerun")  # the installed entry point: completion keys on its name
    done = subprocess.run([str(kerun)], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["validate"], done.stderr


def test_a_spec_on_standard_input() -> None:
    text = (SPECS / "iris_mlp.yaml").read_text()
    ok = runner.invoke(app, ["validate", "-"], input=text)
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["validate", "-"], input=text.replace("units: 32", "units: -32"))
    assert bad.exit_code == 2 and bad.stdout.startswith("<stdin>:14:28: model.layers[1].units")
    explained = runner.invoke(app, ["explain", "-"], input=text)
    assert explained.exit_code == 0 and "name: iris-mlp" in explained.stdout
    check = runner.invoke(app, ["check", "-"], input=text)
    assert check.exit_code == 2 and "standard input" in check.stderr


def test_slow_commands_say_what_they_do_on_stderr_but_not_with_json() -> None:
    import json

    text = runner.invoke(app, ["summary", str(SPECS / "iris_mlp.yaml")])
    assert text.exit_code == 0, text.output
    assert text.stderr.startswith("building the model of ") and "total params" in text.stdout
    as_json = runner.invoke(app, ["summary", str(SPECS / "iris_mlp.yaml"), "--json"])
    assert as_json.exit_code == 0 and as_json.stderr == ""
    assert json.loads(as_json.stdout)["total_params"] > 0
