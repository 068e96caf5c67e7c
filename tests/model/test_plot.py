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


# ---------------------------------------------------------------------------------------------
# what the picture shows and how big it is (issue 15)

import re
import xml.etree.ElementTree as ET

from kerun.model.describe import model_dot
from kerun.model.model import build_model
from kerun.spec import load_spec


@pytest.fixture(scope="module")
def two_texts() -> object:
    return build_model(load_spec(SPECS / "two_texts.yaml")).model


def _labels(dot: object) -> list[str]:
    return [n.get("label").strip('"') for n in dot.get_nodes() if n.get("label")]  # type: ignore[attr-defined]


def test_a_reused_layer_shows_every_call(two_texts: object) -> None:
    dot = model_dot(two_texts, dpi=72)
    labels = _labels(dot)
    # title, body, emb twice, two LSTMs, Concatenate, two heads: every call of the shared embedding
    assert len(labels) == 9
    assert sum(label.startswith("emb (call ") for label in labels) == 2
    second = next(label for label in labels if label.startswith("emb (call 2 of 2)"))
    assert "(?, 100, 64)" in second  # the second call's own output shape (the body, 100 tokens)
    edges = {(e.get_source(), e.get_destination()) for e in dot.get_edges()}
    assert len(edges) == 8


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (.ci/run installs it)")
def test_svg_size_and_viewbox_agree(tmp_path: Path, two_texts: object) -> None:
    from kerun.model.describe import plot_model

    out = tmp_path / "m.svg"
    plot_model(two_texts, out)  # type: ignore[arg-type]
    root = ET.parse(out).getroot()
    width, height = (float(root.get(k, "0").removesuffix("pt")) for k in ("width", "height"))
    _, _, vb_width, vb_height = (float(v) for v in root.get("viewBox", "").split())
    assert (width, height) == (vb_width, vb_height)
    assert not re.search(r"scale\(1\.3", out.read_text())  # drawn at 72 dpi: no 96/72 scaling inside
    assert out.read_text().count("emb (call") == 2
