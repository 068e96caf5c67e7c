"""Errors raised while a built model runs (``fit``, ``evaluate``), told at the spec entry they come from.

TensorFlow's runtime errors start with a stack ("Graph execution error: Detected at node
emb/lookup_table/GatherV2 defined at (most recent call last): File ...") and end with their cause
("indices[3,0] = 7 is not in [0, 5)"). The cause and the op are kept; the op's name carries the
names of the layers it ran in, which lead back to the spec entry that made the layer.

Only TensorFlow's and Keras's own errors are translated: an exception raised by kerun's own code
(a callback, the data pipeline) is a bug, and keeps its type and its traceback.
"""

from __future__ import annotations

import contextlib
import re
import traceback
from pathlib import Path
from typing import Any, Iterator

from kerun.errors import KerunError, Location, RunError, format_path

__all__ = ["runtime_errors", "tf_cause"]

_LIBRARIES = ("tensorflow", "keras", "tf_keras", "jax")


def _from_library(exc: BaseException) -> bool:
    """Raised by TensorFlow or Keras: by the exception's class, else by the innermost frame."""
    if type(exc).__module__.split(".")[0] in _LIBRARIES:
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    parts = Path(frames[-1].filename).parts
    return any(p in _LIBRARIES for p in parts) and "kerun" not in parts[-3:]


def tf_cause(text: str) -> tuple[str, str | None]:
    """(the cause, the op's node name) of a TensorFlow runtime error's text."""
    node = None
    m = re.search(r"Detected at node '?([^\s']+?)'? defined at", text) or re.search(r"\{\{node ([^}]+)\}\}", text)
    if m:
        node = m.group(1)
    lines = text.splitlines()
    stack_end = max((i for i, line in enumerate(lines) if line.lstrip().startswith("File \"")), default=-1)
    rest = [line.strip() for line in lines[stack_end + 1:]]
    rest = [re.sub(r"\s*\[\[\{\{node [^}]*\}\}\]\]", "", line) for line in rest]
    rest = [re.sub(r"\s*\[Op:[^\]]*\]", "", line).strip() for line in rest]
    cause = " ".join(line for line in rest if line and not line.startswith(("Graph execution error", "Detected at node")))
    if not cause:
        cause = next((line.strip() for line in lines if line.strip()), type(text).__name__)
    if len(cause) > 600:
        cause = cause[:597] + "..."
    return cause, node


def _entry(node: str | None, entries: dict[str, tuple[str | int, ...]]) -> tuple[str, tuple[str | int, ...]] | None:
    """The spec entry of the innermost layer named in the op's node name (``model/dense_1/MatMul``)."""
    if not node:
        return None
    for part in reversed(node.split("/")[:-1]):
        for name in (part, re.sub(r"_\d+$", "", part)):
            if name in entries:
                return name, entries[name]
    return None


_LOSS_TEXT = re.compile(r"Arguments `target` and `output`|logits and labels must|Received a label value|"
                        r"`y_true` and `y_pred`|labels must have the same", re.IGNORECASE)


def _loss_does_not_fit(cause: str, node: str | None) -> bool:
    """A loss that cannot compare the model's output with its target (shape, rank, label range)."""
    return bool(_LOSS_TEXT.search(cause)) or bool(node and re.search(r"(^|/)(compile_)?loss(/|$)|_crossentropy|squared_error", node))


@contextlib.contextmanager
def runtime_errors(doc: Any, entries: dict[str, tuple[str | int, ...]], path: tuple[str | int, ...], what: str) -> Iterator[None]:
    """TensorFlow's and Keras's errors inside the block as a RunError (cause kept, ``from exc``)
    at the spec entry of the failing op, else at ``path``; anything else propagates untouched."""
    try:
        yield
    except KerunError:
        raise
    except Exception as exc:
        if not _from_library(exc):
            raise
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip() or type(exc).__name__
        cause, node = tf_cause(text)
        found = _entry(node, entries)
        where: tuple[str | int, ...] = found[1] if found else path
        loss_hint = None
        if found is None and _loss_does_not_fit(cause, node) and ("compile", "loss") in getattr(doc, "values", {}):
            where = ("compile", "loss")  # the loss compares outputs with targets: that is where to look
            loss_hint = ("the loss does not fit the model's output or its targets: compare it with the last layer "
                         "(units, activation) and data.targets (one_hot for categorical_crossentropy, integer "
                         "labels for sparse_categorical_crossentropy)")
        location: Location | None = doc.locate(where)
        op = f" in the op {node}" if node else ""
        layer = f" of the layer {found[0]!r} ({format_path(found[1])})" if found else ""
        raise RunError(f"{what} failed{op}{layer}: {type(exc).__name__}: {cause}", location=location, path=where,
                       hint="the op belongs to this entry: check what reaches it (shapes, ids below input_dim, dtypes)"
                       if found else loss_hint) from exc
