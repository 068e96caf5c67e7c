"""``type: sklearn``: a dataset that ships with scikit-learn (no download): ``features`` and ``label``."""

from __future__ import annotations

import numpy as np

from kerun.data._common import Arrays, SourceContext

__all__ = ["REGRESSION", "read_sklearn"]

REGRESSION = frozenset({"diabetes", "linnerud"})


def read_sklearn(ctx: SourceContext, limit: int | None = None) -> tuple[Arrays, list[str] | None]:
    import sklearn.datasets

    name = ctx.spec.name
    bunch = getattr(sklearn.datasets, f"load_{name}")()
    features = np.asarray(bunch.data, dtype=np.float32)
    if name in REGRESSION:
        label = np.asarray(bunch.target, dtype=np.float32)
        classes = None
    else:
        label = np.asarray(bunch.target).astype(np.int32)
        names = getattr(bunch, "target_names", None)
        classes = [str(n) for n in names] if names is not None else None
    if limit is not None:
        features, label = features[:limit], label[:limit]
    return Arrays({"features": features, "label": label}), classes
