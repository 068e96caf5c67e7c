"""The PNGs of a run: checked by pixel size and by the matplotlib artists drawn (no TensorFlow)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from kerun.run.plots import plot_confusion, plot_curves


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plot functions close, kept for inspection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept: list[Any] = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    yield kept
    for fig in kept:
        real_close(fig)


def _rows(epochs: int, rates: list[float]) -> list[dict[str, Any]]:
    return [{"epoch": e + 1, "loss": 1 / (e + 1), "val_loss": 1.2 / (e + 1), "accuracy": e / epochs, "val_accuracy": e / epochs,
             "learning_rate": rates[e], "seconds": 0.1} for e in range(epochs)]


def _overlaps(labels: list[Any], renderer: Any) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels if t.get_text()]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]


def test_curves_have_integer_epochs_a_title_and_the_learning_rate_when_it_changes(tmp_path: Path, figures: list[Any]) -> None:
    out = tmp_path / "curves.png"
    plot_curves(_rows(7, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]), out, title="iris-mlp/20261201-090000-abcd")
    fig = figures[-1]
    assert fig._suptitle.get_text() == "iris-mlp/20261201-090000-abcd"
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["loss", "accuracy", "learning rate"]
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert _png_size(out) == (int(4.5 * 3 * 100), 360)


def test_a_constant_learning_rate_gets_no_panel(tmp_path: Path, figures: list[Any]) -> None:
    plot_curves(_rows(3, [0.01] * 3), tmp_path / "curves.png")
    assert [ax.get_title() for ax in figures[-1].axes] == ["loss", "accuracy"]


def test_confusion_matrix_is_sized_to_the_classes_titled_and_scaled(tmp_path: Path, figures: list[Any]) -> None:
    iris = tmp_path / "iris.png"
    plot_confusion([[10, 0, 0], [0, 9, 1], [0, 2, 8]], ["setosa", "versicolor", "virginica"], iris)
    fig = figures[-1]
    ax, colour_scale = fig.axes  # the matrix and its colour scale
    assert colour_scale.get_ylabel() == "examples"
    assert fig._suptitle.get_text() == "confusion matrix (30 examples)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["setosa", "versicolor", "virginica"]
    assert len(ax.texts) == 9
    renderer = fig.canvas.get_renderer()
    assert _overlaps(ax.get_xticklabels(), renderer) == [] and _overlaps(ax.get_yticklabels(), renderer) == []
    small = _png_size(iris)
    assert small[0] >= 400 and small[1] >= 400  # the old picture was 235 x 215

    many = tmp_path / "many.png"
    names = [f"department-{i:02d}" for i in range(20)]
    plot_confusion([[int(i == j) * 5 for j in range(20)] for i in range(20)], names, many, title="twenty")
    fig = figures[-1]
    ax = fig.axes[0]
    assert fig._suptitle.get_text() == "twenty"
    renderer = fig.canvas.get_renderer()
    assert _overlaps(ax.get_xticklabels(), renderer) == [] and _overlaps(ax.get_yticklabels(), renderer) == []
    big = _png_size(many)
    assert big[0] > small[0] and big[1] > small[1]


def test_a_long_title_stays_inside_the_picture(tmp_path: Path, figures: list[Any]) -> None:
    title = "iris-mlp-with-a-long-name/20261201T100033Z-484071: test (30 examples)"
    plot_confusion([[10, 0, 0], [0, 8, 2], [0, 3, 7]], ["setosa", "versicolor", "virginica"], tmp_path / "c.png", title=title)
    fig = figures[-1]
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height
    assert fig._suptitle.get_text().replace("\n", " ") == title
