"""Every invalid spec in tests/spec/invalid/ gives exactly the message in the .expected file beside it.

The messages are part of the interface (editors and CI parse FILE:LINE:COL), so a change of
wording shows up here as a diff. To accept new wording after a deliberate change, run
``KERUN_UPDATE_GOLDENS=1 python -m pytest tests/spec/test_invalid_specs.py`` and review the diff.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerun.cli import app
from kerun_testing import assert_golden, golden_cases, invoke_in

HERE = Path(__file__).resolve().parent / "invalid"
CASES = golden_cases(HERE)


def run_validate(name: str) -> tuple[int, str, str]:
    result = invoke_in(HERE, ["validate", name])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_invalid_spec_message(case: Path) -> None:
    code, out, err = run_validate(case.name)
    assert code == 2
    assert "Traceback" not in out + err
    assert_golden(case, out.replace(str(HERE), "<here>"))
    # every problem line starts FILE:LINE:COL
    for line in out.splitlines():
        if not line.startswith("  "):  # a problem inherited from a base is at the base's line
            assert line.startswith(f"{case.name}:") or line.startswith("bases/"), line
            assert line.split(":")[1].isdigit() and line.split(":")[2].isdigit(), line


def test_every_case_has_an_expected_file() -> None:
    assert CASES, "no invalid specs found"
    missing = [c.name for c in CASES if not c.with_suffix(".expected").is_file()]
    assert missing == []


def test_python_tag_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    spec = tmp_path / "spec.yaml"
    spec.write_text(f'seed: !!python/object/apply:os.system ["touch {marker}"]\nmodel: {{inputs: {{x: [1]}}, layers: [{{type: Dense, units: 1}}]}}\n')
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert not marker.exists()


def test_alias_bomb_is_refused_quickly() -> None:
    t0 = time.perf_counter()
    code, out, _ = run_validate("alias_bomb.yaml")
    assert code == 2 and "aliases" in out
    assert time.perf_counter() - t0 < 5.0  # a guard, not a benchmark: without it this takes minutes
