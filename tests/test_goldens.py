"""The one golden-file harness (kerun_testing.assert_golden) fails on a difference and on a missing
file, and rewrites the file only when asked to."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerun_testing import UPDATE_GOLDENS_ENV, assert_golden, golden_cases


def test_a_difference_or_a_missing_golden_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UPDATE_GOLDENS_ENV, raising=False)
    case = tmp_path / "bad.yaml"
    case.write_text("seed: x\n")
    with pytest.raises(AssertionError, match="bad.expected is missing"):
        assert_golden(case, "spec.yaml:1:7: seed: expected an integer\n")
    (tmp_path / "bad.expected").write_text("spec.yaml:1:7: seed: expected an integer\n")
    assert_golden(case, "spec.yaml:1:7: seed: expected an integer\n")
    with pytest.raises(AssertionError, match="bad.expected differs"):
        assert_golden(case, "spec.yaml:1:7: seed: expected a whole number\n")
    assert golden_cases(tmp_path) == [case]


def test_the_update_switch_rewrites_the_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = tmp_path / "bad.yaml"
    (tmp_path / "bad.expected").write_text("old wording\n")
    monkeypatch.setenv(UPDATE_GOLDENS_ENV, "1")
    assert_golden(case, "new wording\n")
    assert (tmp_path / "bad.expected").read_text() == "new wording\n"
