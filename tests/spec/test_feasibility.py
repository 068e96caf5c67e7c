"""What training would refuse before its first step is a validate error (kerun.spec.feasibility);
the golden files late_*.yaml in tests/spec/invalid/ hold the exact messages."""

from __future__ import annotations

from pathlib import Path

from kerun_testing import invoke_in


def test_a_missing_absolute_data_path_has_no_relative_path_hint(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("data: {train: {type: csv, path: /nonexistent/x.csv}}\n"
                                     "model: {inputs: {x: [1]}, layers: [{type: Dense, units: 1}]}\ncompile: {loss: mse}\n")
    result = invoke_in(tmp_path, ["validate", "s.yaml"])
    assert result.exit_code == 2
    assert result.stdout == "s.yaml:1:33: data.train.path: no such file: '/nonexistent/x.csv'\n"
