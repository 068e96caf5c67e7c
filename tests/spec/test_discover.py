"""``kerun validate DIR`` names the YAML files that are not specs instead of failing them."""

from __future__ import annotations

import shutil
from pathlib import Path

from kerun_testing import SPECS, invoke_in


def test_a_data_source_file_beside_specs_is_skipped_not_failed(tmp_path: Path) -> None:
    shutil.copy(SPECS / "iris_mlp.yaml", tmp_path / "iris_mlp.yaml")
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "rows.yaml").write_text("type: csv\npath: rows.csv\nlabel: y\n")
    (tmp_path / "ci.yml").write_text("jobs: {test: {runs-on: ubuntu-latest}}\n")
    result = invoke_in(tmp_path, ["validate", "."])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "ok: 1 of 1 spec valid" in result.stdout
    assert "skipped sources/rows.yaml: not a spec: it has type:, path:, label: but no model: or extends:" in result.stderr
    assert "skipped ci.yml: not a spec" in result.stderr


def test_broken_yaml_in_a_folder_is_still_a_spec_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("model: [oops\n")
    result = invoke_in(tmp_path, ["validate", "."])
    assert result.exit_code == 2
    assert "broken.yaml:2:1: invalid YAML" in result.stdout


def test_a_file_given_by_name_is_always_checked_as_a_spec(tmp_path: Path) -> None:
    (tmp_path / "rows.yaml").write_text("type: csv\npath: rows.csv\n")
    result = invoke_in(tmp_path, ["validate", "rows.yaml"])
    assert result.exit_code == 2 and "rows.yaml:" in result.stdout

