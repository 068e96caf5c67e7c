"""PNG pictures of a run: training curves and a confusion matrix (matplotlib, no display)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any, Sequence

__all__ = ["plot_confusion", "plot_curves"]

_DPI = 100


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _changes(values: Sequence[Any]) -> bool:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return len(set(finite)) > 1


def plot_curves(rows: Sequence[dict[str, Any]], target: Path, *, title: str | None = None) -> None:
    """One panel per metric, training and validation against the epoch (integer ticks), and a
    panel of the learning rate when it changed during the run."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    names = [k for k in rows[0] if k not in ("epoch", "seconds", "learning_rate") and not k.startswith("val_")]
    names = names or ["loss"]
    rates = [r.get("learning_rate") for r in rows]
    panels = names + (["learning_rate"] if _changes(rates) else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, name in zip(axes[0], panels):
        if name == "learning_rate":
            ax.plot(epochs, rates, marker="o", markersize=3, color="tab:green")
            ax.set_title("learning rate")
            positive = [v for v in rates if isinstance(v, (int, float)) and v > 0]
            if len(positive) == len(rates) and max(positive) / min(positive) > 20:
                ax.set_yscale("log")
        else:
            ax.plot(epochs, [r.get(name) for r in rows], marker="o", markersize=3, label="train")
            if any(f"val_{name}" in r for r in rows):
                ax.plot(epochs, [r.get(f"val_{name}") for r in rows], marker="o", markersize=3, label="validation")
            ax.set_title(name)
            ax.legend()
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=_DPI)
    plt.close(fig)


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], target: Path, *, title: str | None = None,
                   unit: str = "examples") -> None:
    """A heat map sized to the number of classes, with a colour scale, counts in the cells (up to
    30 classes) and the class names on both axes, turned upright when they are long; ``unit``
    says what is counted (examples, or pixels of a segmentation)."""
    plt = _pyplot()
    n = len(labels)
    longest = max((len(str(label)) for label in labels), default=1)
    cell = 0.55 if n <= 30 else 0.25
    side = min(max(4.0, 1.6 + cell * n + 0.07 * longest), 24.0)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))  # + the colour scale
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=unit)
    slant = longest > 3 or n > 10
    fontsize = 10 if n <= 12 else 8 if n <= 30 else 6
    ax.set_xticks(range(n), labels, rotation=90 if slant else 0, ha="right" if slant else "center",
                  rotation_mode="anchor", fontsize=fontsize)
    ax.set_yticks(range(n), labels, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = sum(sum(row) for row in matrix)
    # over the whole figure, wrapped to its width: a run's id is longer than the matrix is wide
    chars = max(20, int(fig.get_size_inches()[0] * _DPI / 8))
    fig.suptitle("\n".join(textwrap.wrap(title or f"confusion matrix ({total} {unit})", chars)), fontsize=11)
    top = max((max(row) for row in matrix if len(row)), default=0)
    if n <= 30:
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, str(value), ha="center", va="center", fontsize=fontsize,
                        color="white" if value > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=_DPI)
    plt.close(fig)
