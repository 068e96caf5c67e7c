"""``type: text``: a folder with one sub-folder per class of ``.txt`` files, or a CSV file.

Folder: fields ``text`` (str) and ``label`` (the class index; classes are the sorted sub-folder
names). CSV: every column is a field, and ``column`` (default ``text``) also becomes ``text``;
a label column holding class names is turned into indices in sorted order.
"""

from __future__ import annotations

import copy

import numpy as np

from kerun.data._common import Arrays, SourceContext, missing_name_error
from kerun.data.csv import read_csv
from kerun.data.images import class_folders

__all__ = ["read_text"]


class _CsvView:
    """A text source seen as a csv source (same path and label)."""

    type = "csv"
    delimiter = ","
    columns = None

    def __init__(self, spec) -> None:
        self.path = spec.path
        self.label = spec.label


def read_text(ctx: SourceContext, limit: int | None = None) -> tuple[Arrays, list[str] | None]:
    spec = ctx.spec
    root = ctx.file()
    if root.is_file():
        inner = copy.copy(ctx)  # the same place and path resolution (a predict input's too), read as CSV
        inner.spec, inner.extra = _CsvView(spec), {}
        arrays = read_csv(inner, limit)
        column = spec.column or spec.field
        if column not in arrays.fields:
            raise missing_name_error(ctx, "column", column, list(arrays.fields), "column")
        text = arrays.fields[column]
        if text.dtype != object:
            text = text.astype(str).astype(object)
        fields = dict(arrays.fields)
        fields[spec.field] = text
        return Arrays(fields), None
    classes, files, labels = class_folders(ctx, root, frozenset({".txt"}))
    if limit is not None:
        files, labels = files[:limit], labels[:limit]
    texts = np.empty(len(files), dtype=object)
    for i, f in enumerate(files):
        try:
            texts[i] = f.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise ctx.error(f"cannot read {f}: {e}", "path") from None
    return Arrays({spec.field: texts, "label": labels}), classes
