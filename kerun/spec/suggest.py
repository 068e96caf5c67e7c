"""Nearest-name suggestions for misspelt keys, types and arguments (standard library only)."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["did_you_mean", "nearest"]


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``word`` (compared case-insensitively), or None if none is close.

    ``suggest('Dense2', names) == 'Dense'``, ``suggest('Conv2d', names) == 'Conv2D'``,
    ``suggest('filter', args) == 'filters'``, ``suggest('adma', idents) == 'adam'``.
    """
    if not isinstance(word, str) or not word:
        return None
    by_lower: dict[str, list[str]] = {}
    for cand in sorted(set(candidates)):
        if isinstance(cand, str) and cand:
            by_lower.setdefault(cand.lower(), []).append(cand)
    if not by_lower:
        return None
    key = word.lower()
    if key not in by_lower:
        matches = difflib.get_close_matches(key, list(by_lower), n=5, cutoff=0.6)
        if not matches:
            return None
        # difflib's ratio under-rates transpositions ('adma' is nearer 'adam' than 'adamax'):
        # rank its shortlist by edit distance first, then by difflib's own order.
        key = min(matches, key=lambda m: (_edit_distance(key, m), matches.index(m)))
    group = by_lower[key]
    # Several spellings differing only in case (``MSE``/``mse``): the one closest to ``word``.
    return max(group, key=lambda c: difflib.SequenceMatcher(None, word, c).ratio())


def _edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions, transpositions."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """``"did you mean 'Dense'?"`` or None."""
    near = nearest(word, candidates)
    return f"did you mean {near!r}?" if near is not None and near != word else None
