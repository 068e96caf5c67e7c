"""The README cannot drift: its commands are the ones CI runs, its examples are real."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from kerun_testing import ROOT, invoke_in
from kerun.cli import app

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_two_setup_commands() -> None:
    first, second = _bash_blocks()[:2]
    assert first.strip().endswith("kerun train specs/iris_mlp.yaml")
    assert "pytest" in second
    assert README.index(first) < README.index("## A tour")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = _bash_blocks()[1].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    marker = ci.index("# test-command (kept identical to the README by tests/test_docs.py)")
    assert ci[marker + 1] == test_command


def test_tour_commands_exist() -> None:
    commands = set(re.findall(r"^kerun (\w+)", _bash_blocks()[2], flags=re.M))
    result = CliRunner().invoke(app, ["--help"])
    for command in commands:
        assert command in result.stdout, command


def test_readme_error_example_is_real() -> None:
    block = re.search(r"```text\n\$ kerun validate (\S+)\n(.*?)```", README, flags=re.S)
    assert block is not None
    path, shown = block.group(1), block.group(2)
    out = invoke_in(ROOT / "tests" / "spec" / "invalid", ["validate", path.rsplit("/", 1)[-1]]).stdout
    for line in shown.splitlines():
        if line.strip() and line.strip() != "...":
            assert line in out.splitlines(), line
