"""The callbacks that write files, and what their paths may be: inside the run folder, always.

One list for validation (:mod:`kerun.spec.check`) and for the run (:mod:`kerun.run.session`).
``ModelCheckpoint`` is the one whose path Keras formats (``str.format`` with ``epoch``, ``batch``
and the logged metrics); there only those fields with plain number formats are allowed, since a
format spec such as ``{epoch!s:.>2.0}`` turns into ``..`` and leaves the folder. The formatted
path is checked again before anything is written (:func:`confine`). TensorFlow-free.
"""

from __future__ import annotations

import re
import string
from pathlib import Path, PurePosixPath

__all__ = ["CALLBACK_PATHS", "FORMATTED", "HINT", "confine", "path_problem"]

CALLBACK_PATHS: dict[str, tuple[str, str]] = {
    "ModelCheckpoint": ("filepath", "best.keras"),
    "TensorBoard": ("log_dir", "tensorboard"),
    "CSVLogger": ("filename", "keras_log.csv"),
    "BackupAndRestore": ("backup_dir", "backup"),
    "OrbaxCheckpoint": ("directory", "orbax"),
}
"""Callback class -> (the argument holding its path, the default path inside the run folder)."""

FORMATTED = frozenset({"ModelCheckpoint"})
"""Callbacks whose path Keras fills in with ``str.format`` before writing."""

MAX_PATH = 1024
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPEC = re.compile(r"0?(?:[1-9][0-9]?)?(?:\.[0-9]{1,2})?[dfFeEgG%]?")
_INTEGER_FIELDS = ("epoch", "batch")
HINT = "callback paths are relative to the run folder; leave the argument out to use the default"


def _fields(template: str) -> list[tuple[str, str | None, str]] | str:
    """The (name, conversion, format spec) of each format field, or why the template is refused."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid format string ({exc})"
    fields = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _FIELD.fullmatch(name):
            return f"has the format field {{{name}}}; only {{epoch}}, {{batch}} and metric names are filled in"
        if conversion is not None:
            return f"has the conversion !{conversion} in {{{name}}}; only plain number formats such as {{epoch:02d}} are allowed"
        if not _SPEC.fullmatch(spec or ""):
            return f"has the format {{{name}:{spec}}}; only plain number formats such as {{epoch:02d}} or {{val_loss:.4f}} are allowed"
        sample: float | int = 1 if name in _INTEGER_FIELDS else 0.5
        try:
            format(sample, spec or "")
        except ValueError:
            kind = "whole number" if name in _INTEGER_FIELDS else "decimal number (a metric)"
            return f"has the format {{{name}:{spec}}}, which does not fit a {kind}"
        fields.append((name, conversion, spec))
    return fields


def path_problem(callback: str, value: object) -> str | None:
    """Why ``value`` is refused as the path of ``callback`` (None when it is fine), as the rest of a
    sentence starting with the argument: ``filepath: '/tmp/x' is absolute ...``."""
    if not isinstance(value, str):
        return f"expected a path (text), got {type(value).__name__}"
    if not value:
        return "the path is empty"
    if len(value) > MAX_PATH:
        return f"the path is longer than {MAX_PATH} characters"
    if "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return "the path contains a NUL or an invalid character"
    literal = value
    if callback in FORMATTED:
        fields = _fields(value)
        if isinstance(fields, str):
            return f"{value!r} {fields}"
        # each field becomes digits (plain number formats), never a separator or a dot alone
        literal = re.sub(r"\{[^{}]*\}", "0", value.replace("{{", "(").replace("}}", ")"))
    return _outside(value, literal)


def _outside(value: str, literal: str) -> str | None:
    pure = PurePosixPath(literal.replace("\\", "/"))
    if pure.is_absolute() or literal.startswith("~") or re.match(r"[A-Za-z]:", literal):
        return f"{value!r} is not relative to the run folder"
    if ".." in pure.parts:
        return f"{value!r} would write outside the run folder"
    return None


def confine(root: Path, value: str) -> Path:
    """``value`` (formatted already; relative to ``root`` or absolute) resolved, symbolic links
    followed, as a path inside ``root``; ValueError if it would leave it."""
    target = (Path(root) / value).resolve()
    base = Path(root).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"{value!r} would write outside the run folder {root}")
    return target

