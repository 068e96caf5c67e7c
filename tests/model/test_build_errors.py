"""Keras's own errors while building arrive at the entry's file, line and column (exit 2).

The messages are golden files beside the specs in tests/model/invalid/; after a deliberate change
of wording: ``KERUN_UPDATE_GOLDENS=1 python -m pytest tests/model/test_build_errors.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from kerun_testing import assert_golden, golden_cases, invoke_in

HERE = Path(__file__).resolve().parent / "invalid"
CASES = golden_cases(HERE)


def run_summary(name: str) -> tuple[int, str, str]:
    result = invoke_in(HERE, ["summary", name])
    return result.exit_code, result.stdout, result.stderr.replace(str(HERE), "<here>")


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_build_error_message(case: Path) -> None:
    code, out, err = run_summary(case.name)
    assert code == 2
    assert "Traceback" not in out + err
    assert_golden(case, err)


def test_at_least_five_kinds() -> None:
    assert len(CASES) >= 5 and all(c.with_suffix(".expected").is_file() for c in CASES)
