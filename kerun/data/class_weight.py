"""``train.class_weight: balanced``: each class weighs ``n_samples / (n_classes * count)`` over the
training split, as scikit-learn's ``compute_class_weight("balanced", ...)`` computes it (the
classes being those the training split holds). Computed on the training split only, after the
hold-outs are taken, so the validation and test rows never shape the weights."""

from __future__ import annotations

from typing import Any

import numpy as np

from kerun.errors import DataError

__all__ = ["balanced_class_weight", "binary_ids"]

WHERE = ("train", "class_weight")


def binary_ids(mapped: Any, outs: list[str]) -> np.ndarray | None:
    """Class ids of a single one-unit target holding only 0 and 1 (a sigmoid output's labels)."""
    if len(outs) != 1:
        return None
    y = np.asarray(mapped.y[outs[0]])
    if y.size != len(y) or y.dtype.kind not in "fiub" or not np.all((y == 0) | (y == 1)):
        return None
    return y.reshape(-1).astype(np.int64)


def balanced_class_weight(loaded: Any, labels: np.ndarray | None) -> dict[int, float]:
    """Class id -> weight for the training split's class ids ``labels`` (None: the targets are not
    class labels, which is the user's error, located at ``train.class_weight``)."""
    if labels is None or not len(labels):
        raise DataError("class_weight: balanced needs one class label per example as the single target "
                        "(integer class ids, or one-hot rows)", location=loaded.doc.locate(WHERE), path=WHERE,
                        hint="map the single output to a label column, or give the weights as a mapping class id -> weight")
    classes, counts = np.unique(np.asarray(labels).astype(np.int64), return_counts=True)
    weights = len(labels) / (len(classes) * counts.astype(np.float64))
    return {int(c): float(w) for c, w in zip(classes, weights)}
