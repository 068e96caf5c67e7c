"""kerun plot: a picture with Graphviz, a clear message without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kerun_testing import SPECS
from kerun.cli import app

runner = CliRunner()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (.ci/run installs it)")
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_plot_writes_a_picture(tmp_path: Path, suffix: str, magic: bytes) -> None:
    out = tmp_path / f"model{suffix}"
    result = runner.invoke(app, ["plot", str(SPECS / "toy_resnet.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[: len(magic)] == magic


def test_missing_graphviz_is_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no 'dot' anywhere
    result = runner.invoke(app, ["plot", str(SPECS / "iris_mlp.yaml"), "-o", str(tmp_path / "m.png")])
    assert result.exit_code == 2
    assert "needs Graphviz's 'dot' program" in result.stderr and "apt-get install graphviz" in result.stderr
    assert "Traceback" not in result.stderr
