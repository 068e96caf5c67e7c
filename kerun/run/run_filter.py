"""``kerun runs --where EXPR --sort KEY --limit N``: the rows of :func:`kerun.run.listing.list_runs`
filtered, ordered and cut (TensorFlow-free: the rows are read from the manifests).

Keys. A run's fields: ``status``, ``run``, ``epochs``, ``started_at``. Its final metrics, named as a
sweep's objective names them: ``val_<m>`` (validation split), ``test_<m>`` (test split),
``train_<m>`` or plain ``<m>`` (training split): ``val_accuracy``, ``test_loss``, ``loss``.

``--where KEY OP VALUE`` (repeatable: every one must hold): OP is one of ``= != > >= < <=``; a
number compares as a number, anything else as text (``status=completed``, ``status!=failed``). A
run without the key does not match. ``--sort KEY``: best first, i.e. descending, except for
metrics named like a loss or an error (``loss``, ``mse``, ``mae``, ``*_error``, ...) and for the
run's fields, ascending; ``-KEY`` forces descending, ``+KEY`` ascending. Runs without the key
come last. ``--limit N``: the first N after sorting. A key no run has, an operator or a limit
that does not parse is a :class:`FilterError` naming what is allowed.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

__all__ = ["FilterError", "OPERATORS", "apply_filters", "key_value", "parse_where"]

OPERATORS = ("!=", ">=", "<=", "==", "=", ">", "<")
FIELDS = ("status", "run", "epochs", "started_at")
SPLITS = (("val_", "validation"), ("validation_", "validation"), ("test_", "test"), ("train_", "train"))
_LOSS_LIKE = re.compile(r"(loss|error|mse|mae|mape|msle|crossentropy|hinge|divergence|poisson|cosh)", re.I)
_WHERE = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(!=|>=|<=|==|=|>|<)\s*(.*?)\s*$")


class FilterError(ValueError):
    """A ``--where``, ``--sort`` or ``--limit`` that cannot be applied; the message says what is allowed."""


def key_value(row: dict[str, Any], key: str) -> Any:
    """The value of ``key`` for one run (see the module's docstring), or None when it has none."""
    if key in FIELDS:
        return row.get(key)
    metrics = row.get("metrics") if isinstance(row.get("metrics"), dict) else {}
    for prefix, split in SPLITS:
        if key.startswith(prefix):
            values = metrics.get(split)
            if isinstance(values, dict) and key[len(prefix):] in values:
                return values[key[len(prefix):]]
    train = metrics.get("train")
    return train.get(key) if isinstance(train, dict) else None


def _keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    found: list[str] = list(FIELDS)
    names = {"validation": "val_", "test": "test_", "train": ""}
    for row in rows:
        metrics = row.get("metrics") if isinstance(row.get("metrics"), dict) else {}
        for split, values in metrics.items():
            if split in names and isinstance(values, dict):
                found.extend(names[split] + m for m in values if names[split] + m not in found)
    return found


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_where(expr: str) -> tuple[str, str, str]:
    """``KEY OP VALUE`` as its three parts."""
    match = _WHERE.match(expr)
    if not match or not match.group(3):
        raise FilterError(f"--where {expr!r}: expected KEY OP VALUE with OP one of {' '.join(OPERATORS)}, "
                          "e.g. 'val_accuracy>0.9' or 'status=completed'")
    key, op, value = match.groups()
    return key, "=" if op == "==" else op, value


def _holds(actual: Any, op: str, wanted: str, expr: str) -> bool:
    if actual is None:
        return False
    number = _number(wanted)
    if number is not None and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        a, b = float(actual), number
    elif op in ("=", "!="):
        a, b = str(actual), wanted  # type: ignore[assignment]
    elif number is None:
        raise FilterError(f"--where {expr!r}: {op} compares numbers, and {wanted!r} is not one; text compares with = or !=")
    else:
        raise FilterError(f"--where {expr!r}: the runs' value is {actual!r}, not a number; compare it with = or !=")
    return {"=": a == b, "!=": a != b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def _known(rows: Sequence[dict[str, Any]], key: str, option: str) -> None:
    if rows and all(key_value(r, key) is None for r in rows):
        raise FilterError(f"{option}: no run has {key!r}; the keys of these runs: {', '.join(_keys(rows))}")


def _descending(key: str) -> bool:
    return key not in FIELDS and not _LOSS_LIKE.search(key)


def apply_filters(rows: list[dict[str, Any]], where: Sequence[str] = (), sort: str | None = None,
                  limit: int | None = None) -> list[dict[str, Any]]:
    """The runs that match every ``where``, in the order of ``sort``, the first ``limit``; a metric
    named in ``where`` or ``sort`` that the headline does not show is added to it."""
    shown: list[str] = []
    for expr in where:
        key, op, value = parse_where(expr)
        _known(rows, key, "--where")
        rows = [r for r in rows if _holds(key_value(r, key), op, value, expr)]
        shown.append(key)
    if sort is not None:
        key = sort.lstrip("+-").strip()
        if not key:
            raise FilterError(f"--sort {sort!r}: expected a key, e.g. val_accuracy, -val_loss or +epochs")
        _known(rows, key, "--sort")
        descending = sort.startswith("-") or (not sort.startswith("+") and _descending(key))
        present = [r for r in rows if key_value(r, key) is not None]
        missing = [r for r in rows if key_value(r, key) is None]
        try:
            present.sort(key=lambda r: key_value(r, key), reverse=descending)
        except TypeError:
            present.sort(key=lambda r: str(key_value(r, key)), reverse=descending)
        rows = present + missing
        shown.append(key)
    if limit is not None:
        if limit < 0:
            raise FilterError(f"--limit {limit}: expected 0 or more runs")
        rows = rows[:limit]
    extra = [k for k in dict.fromkeys(shown) if k not in FIELDS]
    if extra:
        rows = [dict(r) for r in rows]
        for r in rows:
            values = [f"{_label(k)} {_short(key_value(r, k))}" for k in extra
                      if key_value(r, k) is not None and not _in_headline(r, k)]
            r["headline"] = "  ".join(filter(None, [r.get("headline") or "", f"({', '.join(values)})" if values else ""]))
    return rows


def _in_headline(row: dict[str, Any], key: str) -> bool:
    """Whether the headline (one split's metrics, kerun.run.listing) shows ``key`` already."""
    headline = str(row.get("headline") or "")
    for prefix, split in (*SPLITS, ("", "train")):
        if key.startswith(prefix) and headline.startswith(f"{split}: ") and f" {key[len(prefix):]} " in headline[len(split) + 1:] + " ":
            return True
    return False


def _label(key: str) -> str:
    """A metric as the extra column names it: a plain name is the training split's."""
    return key if key.startswith(tuple(p for p, _ in SPLITS)) else f"train_{key}"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
