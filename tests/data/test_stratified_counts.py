"""Stratified hold-outs count as scikit-learn's train_test_split(stratify=...) counts (issue 23, point 9)."""

from __future__ import annotations

import numpy as np
import pytest

from kerun.data.pipeline import split_indices

sklearn_split = pytest.importorskip("sklearn.model_selection").train_test_split


def test_many_small_classes_keep_the_held_out_size() -> None:
    labels = np.repeat(np.arange(100), 4)  # 100 classes of 4 examples
    parts = split_indices(400, {"validation": 0.1}, 0, labels=labels)
    assert len(parts["validation"]) == 40 and len(parts["train"]) == 360
    per_class = np.bincount(labels[parts["validation"]], minlength=100)
    assert set(per_class.tolist()) == {0, 1}  # no class gives two while another could give one
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(400))


@pytest.mark.parametrize("counts, frac", [
    ([50, 50, 50], 0.2), ([5] * 30, 0.25), ([90, 7, 3], 0.3), ([13, 8, 5, 3, 2, 2, 2, 40], 0.33),
    ([3] * 11, 0.4), (list(range(2, 23)), 0.17), ([2, 2, 60], 0.05),
])
def test_sizes_and_class_counts_equal_scikit_learns(counts: list[int], frac: float) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    n = len(labels)
    ours = split_indices(n, {"test": frac}, 7, labels=labels)
    _, their_test = sklearn_split(np.arange(n), test_size=frac, stratify=labels, random_state=7)
    assert len(ours["test"]) == len(their_test) and len(ours["train"]) == n - len(their_test)
    mine = np.bincount(labels[ours["test"]], minlength=len(counts))
    theirs = np.bincount(labels[their_test], minlength=len(counts))
    # a class's count can differ only where scikit-learn draws between equal remainders
    share = np.array(counts) * len(their_test) / n
    assert (np.abs(mine - theirs) <= 1).all() and mine.sum() == theirs.sum()
    assert (mine[share == np.floor(share)] == theirs[share == np.floor(share)]).all()
    assert sorted(mine.tolist()) == sorted(theirs.tolist()) or len(set(counts)) > 1


def test_two_hold_outs_and_no_labels_give_the_same_sizes() -> None:
    labels = np.repeat(np.arange(60), 3)
    strat = split_indices(180, {"test": 0.15, "validation": 0.15}, 3, labels=labels)
    plain = split_indices(180, {"test": 0.15, "validation": 0.15}, 3)
    assert [len(strat[k]) for k in ("test", "validation", "train")] == [27, 27, 126]
    assert [len(plain[k]) for k in ("test", "validation", "train")] == [27, 27, 126]
    assert sorted(np.concatenate(list(strat.values())).tolist()) == list(range(180))
