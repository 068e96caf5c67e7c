"""Keras's own errors while building arrive at the entry's file, line and column (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from kerun_testing import invoke_in

HERE = Path(__file__).resolve().parent / "invalid"
CASES = sorted(HERE.glob("*.yaml"))


def run_summary(name: str) -> tuple[int, str, str]:
    result = invoke_in(HERE, ["summary", name])
    return result.exit_code, result.stdout, result.stderr.replace(str(HERE), "<here>")


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_build_error_message(case: Path) -> None:
    code, out, err = run_summary(case.name)
    assert code == 2
    assert "Traceback" not in out + err
    assert err == case.with_suffix(".expected").read_text(encoding="utf-8")


def test_at_least_five_kinds() -> None:
    assert len(CASES) >= 5 and all(c.with_suffix(".expected").is_file() for c in CASES)


if __name__ == "__main__" and "--update" in sys.argv:
    for case in CASES:
        _, _, err = run_summary(case.name)
        case.with_suffix(".expected").write_text(err, encoding="utf-8")
        print("wrote", case.with_suffix(".expected").name)
