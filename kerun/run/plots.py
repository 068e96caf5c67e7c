"""PNG pictures of a run: training curves and a confusion matrix (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

__all__ = ["plot_confusion", "plot_curves"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(rows: Sequence[dict[str, Any]], target: Path) -> None:
    """One panel per metric, training and validation against the epoch."""
    plt = _pyplot()
    names = [k for k in rows[0] if k not in ("epoch", "seconds", "learning_rate") and not k.startswith("val_")]
    names = names or ["loss"]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.4), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, name in zip(axes[0], names):
        ax.plot(epochs, [r.get(name) for r in rows], marker="o", markersize=3, label="train")
        if any(f"val_{name}" in r for r in rows):
            ax.plot(epochs, [r.get(f"val_{name}") for r in rows], marker="o", markersize=3, label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=100)
    plt.close(fig)


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], target: Path) -> None:
    plt = _pyplot()
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * n, 0.8 + 0.45 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=90 if n > 6 else 0)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8, color="white" if value > top / 2 else "black")
    fig.tight_layout()
    fig.savefig(target, format="png", dpi=100)
    plt.close(fig)
