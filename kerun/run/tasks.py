"""Which evaluation report an output gets: its task, decided in one place from what the model and
the data say (numpy only, no TensorFlow, so every rule is tested on small arrays).

The facts (:class:`OutputFacts`) are the output's shape (per example), its last activation, its
loss, and the target's shape, whether its values are whole numbers and whether it is the input
itself. The rules, in order:

==================  ==========================================================================
reconstruction      the target is the model's input (an autoencoder), or a continuous target
                    of more than one position per example (``(28, 28, 1)`` images, a series)
regression          a continuous target (a regression loss such as ``mse``/``mae``/``huber``,
                    or no classification sign), a few values per example: one row per column
multi-label         several sigmoid units (or binary cross-entropy) against a 0/1 target of
                    the output's own shape
segmentation        class scores at every position of a 2-D or larger grid: ``(H, W, K)``
sequence            class scores at every step: ``(T, K)``
binary              one sigmoid unit (or logit), or two softmax units
multi-class         K > 2 classes, up to :data:`MANY_CLASSES`
many classes        more than :data:`MANY_CLASSES` classes: a summary and the worst classes
==================  ==========================================================================

A classification sign is a cross-entropy or hinge loss, a softmax/sigmoid activation, or, when
neither the loss nor the activation says, a target of whole numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["MANY_CLASSES", "OutputFacts", "Task", "choose_task", "loss_name"]

MANY_CLASSES = 20  # above this, a terminal shows the summary and the worst classes, not every class

REGRESSION_LOSSES = ("mean_squared", "mse", "mean_absolute", "mae", "huber", "log_cosh", "logcosh", "mape",
                     "msle", "cosine", "poisson", "squared_error", "absolute_error")
CLASSIFICATION_LOSSES = ("crossentropy", "hinge", "focal", "kl_divergence", "kld")
BINARY_LOSSES = ("binary_crossentropy", "binarycrossentropy", "binary_focal", "binaryfocal", "hinge")


@dataclass(frozen=True)
class OutputFacts:
    """What is known of one output before its report is chosen."""

    name: str
    shape: tuple[int | None, ...]  # one example's output, no batch axis
    target_shape: tuple[int, ...]  # one example's target
    activation: str | None = None  # the last layer's activation ("softmax", "sigmoid", "linear")
    loss: str | None = None  # snake_case name of the output's loss (:func:`loss_name`)
    from_logits: bool = False
    target_integer: bool = False  # every target value a whole number
    target_is_input: bool = False  # the target is the model's input (an autoencoder)


@dataclass(frozen=True)
class Task:
    kind: str  # regression, reconstruction, binary, multiclass, many-classes, multilabel, segmentation, sequence
    why: str  # the facts that decided it, said to the user
    classes: int = 0  # the number of classes (labels for multilabel); 0 for a continuous target
    from_logits: bool = False

    @property
    def per_class(self) -> bool:
        return self.kind in ("binary", "multiclass", "many-classes", "segmentation", "sequence")


def loss_name(loss: Any) -> str | None:
    """``"mse"``, ``{"type": "BinaryCrossentropy"}`` or a Keras loss object or function as a
    snake_case name (``binary_crossentropy``), or None."""
    if loss is None:
        return None
    if isinstance(loss, dict):
        loss = loss.get("type") or loss.get("class_name")
    elif not isinstance(loss, str):
        loss = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    if not isinstance(loss, str):
        return None
    out = []
    for i, ch in enumerate(loss):
        if ch.isupper() and i and not loss[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _has(name: str | None, words: Sequence[str]) -> bool:
    return name is not None and any(w in name.replace("_", "") or w in name for w in words)


def _classification_sign(f: OutputFacts) -> tuple[bool, str]:
    if _has(f.loss, CLASSIFICATION_LOSSES):
        return True, f"loss {f.loss}"
    if _has(f.loss, REGRESSION_LOSSES):
        return False, f"loss {f.loss}"
    if f.activation in ("softmax", "sigmoid", "log_softmax"):
        return True, f"{f.activation} output"
    if f.from_logits:
        return True, "logits"
    if f.target_integer:
        return True, "whole-number targets"
    return False, "continuous targets"


def _per_position(f: OutputFacts) -> int:
    """How many grid axes the class scores are given over (0: one answer per example)."""
    if len(f.shape) < 2:
        return 0
    grid = tuple(f.shape[:-1])
    t = tuple(f.target_shape)
    if len(t) >= len(grid) and all(g is None or g == d for g, d in zip(grid, t)):  # None: any length (a series)
        return len(grid)
    return 0


def choose_task(f: OutputFacts) -> Task:
    """The report for one output (see the table above)."""
    width = f.shape[-1] if f.shape else 1
    width = int(width) if width is not None else 1
    size = math.prod(int(d or 1) for d in f.shape) if f.shape else 1
    if f.target_is_input:
        return Task("reconstruction", "the target is the input")
    classify, sign = _classification_sign(f)
    if not classify:
        if size > 1 and len(f.shape) >= 2:
            return Task("reconstruction", f"{sign}, {_shape(f.shape)} values per example")
        return Task("regression", f"{sign}, {size} value{'s' if size != 1 else ''} per example")
    binaryish = f.activation == "sigmoid" or _has(f.loss, BINARY_LOSSES)
    grid = _per_position(f)
    if width > 1 and binaryish and tuple(f.target_shape) == tuple(f.shape) and not grid:
        return Task("multilabel", f"{sign}, {width} labels", classes=width, from_logits=f.from_logits)
    classes = width if width > 1 else 2
    if grid:
        kind = "segmentation" if grid >= 2 else "sequence"
        where = "pixel" if grid >= 2 else "step"
        over = "" if None in f.shape[:-1] else f" of {_shape(f.shape[:-1])}"
        return Task(kind, f"{sign}, {classes} classes per {where}{over}", classes=classes, from_logits=f.from_logits)
    if classes == 2:
        return Task("binary", f"{sign}, {'one unit' if width == 1 else 'two units'}", classes=2, from_logits=f.from_logits)
    if classes > MANY_CLASSES:
        return Task("many-classes", f"{sign}, {classes} classes", classes=classes, from_logits=f.from_logits)
    return Task("multiclass", f"{sign}, {classes} classes", classes=classes, from_logits=f.from_logits)


def _shape(shape: Sequence[int | None]) -> str:
    return "x".join(str(d) for d in shape)


def whole_numbers(y: np.ndarray) -> bool:
    y = np.asarray(y)
    if y.dtype.kind in "biu":
        return True
    if y.dtype.kind != "f" or y.size == 0:
        return False
    return bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))
