"""Nearest-name suggestions for misspelt keys, types and arguments (standard library only)."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["did_you_mean", "nearest"]


def nearest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate closest to ``word``, compared case-insensitively, or None if none is close."""
    names = [c for c in dict.fromkeys(candidates) if isinstance(c, str)]
    if not names or not isinstance(word, str):
        return None
    lowered: dict[str, str] = {}
    for name in names:
        lowered.setdefault(name.lower(), name)
    if word.lower() in lowered:
        return lowered[word.lower()]
    stripped = word.lower().replace("_", "")
    for low, name in lowered.items():
        if low.replace("_", "") == stripped:
            return name
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[match[0]] if match else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """``"did you mean 'Dense'?"`` or None."""
    near = nearest(word, candidates)
    return f"did you mean {near!r}?" if near is not None and near != word else None
