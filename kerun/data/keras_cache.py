"""``type: keras``: a ``keras.datasets`` dataset read from the local Keras cache only.

kerun never downloads: the files must already be where ``keras.datasets.<name>.load_data()``
leaves them (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``). The files are read directly, the
way Keras reads them, so a partial or unexpected file is never replaced by a download.

Fields: ``image`` and ``label`` (mnist, fashion_mnist, cifar10, cifar100), ``features`` and
``label`` (boston_housing, california_housing), ``sequence`` (word-index lists, padded to the
model input's length when mapped) and ``label`` (imdb, reuters).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from kerun.data._common import Arrays, SourceContext

__all__ = ["cache_dirs", "read_keras"]

_FILES = {
    "mnist": ["mnist.npz"],
    "fashion_mnist": ["fashion-mnist/train-labels-idx1-ubyte.gz", "fashion-mnist/train-images-idx3-ubyte.gz",
                      "fashion-mnist/t10k-labels-idx1-ubyte.gz", "fashion-mnist/t10k-images-idx3-ubyte.gz"],
    "cifar10": ["cifar-10-batches-py"],
    "cifar100": ["cifar-100-python"],
    "imdb": ["imdb.npz"],
    "reuters": ["reuters.npz"],
    "boston_housing": ["boston_housing.npz"],
    "california_housing": ["california_housing.npz"],
}


def cache_dirs() -> list[Path]:
    """The folders searched, in order: ``$KERAS_HOME/datasets``, Keras's own home, ``~/.keras/datasets``."""
    dirs: list[Path] = []
    env = os.environ.get("KERAS_HOME")
    if env:
        dirs.append(Path(env).expanduser() / "datasets")
    else:
        try:
            from keras.src.backend.config import keras_home

            dirs.append(Path(keras_home()).expanduser() / "datasets")
        except Exception:  # pragma: no cover - private API moved
            pass
        dirs.append(Path("~/.keras").expanduser() / "datasets")
    return list(dict.fromkeys(dirs))


def _find(rel: str) -> Path | None:
    for d in cache_dirs():
        for candidate in (d / rel, d / f"{rel}-target" / rel):
            if candidate.exists():
                return candidate
    return None


def _not_cached(ctx: SourceContext, name: str, missing: str) -> Exception:
    where = " or ".join(str(d / missing) for d in cache_dirs())
    return ctx.error(
        f"keras dataset {name!r} is not in the local Keras cache (looked for {where}); kerun never downloads data",
        "name",
        hint=f"fetch it once with: python -c \"import keras; keras.datasets.{name}.load_data()\"\n"
             "or copy the file into the cache folder ($KERAS_HOME/datasets, default ~/.keras/datasets)",
    )


def _split_xy(x: np.ndarray, y: np.ndarray, part: str, test_split: float = 0.2, seed: int = 113):
    # As keras.datasets.{boston,california}_housing: a seeded shuffle, then the last 20% is test.
    rng = np.random.RandomState(seed)
    idx = np.arange(len(x))
    rng.shuffle(idx)
    x, y = x[idx], y[idx]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]) if part == "train" else (x[cut:], y[cut:])


def read_keras(ctx: SourceContext, limit: int | None = None) -> tuple[Arrays, list[str] | None]:
    name = ctx.spec.name
    part = ctx.spec.part
    paths = []
    for rel in _FILES[name]:
        found = _find(rel)
        if found is None:
            raise _not_cached(ctx, name, rel)
        paths.append(found)
    try:
        fields = _load(name, part, paths)
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise ctx.error(f"the cached file for keras dataset {name!r} ({paths[0]}) cannot be read: {e}", "name",
                        hint="delete it and fetch it again with keras.datasets.%s.load_data()" % name) from None
    if limit is not None:
        fields = {k: v[:limit] for k, v in fields.items()}
    return Arrays(fields), None


def _load(name: str, part: str, paths: list[Path]) -> dict[str, np.ndarray]:
    train = part == "train"
    if name == "mnist":
        with np.load(paths[0], allow_pickle=False) as f:
            return {"image": f["x_train" if train else "x_test"], "label": f["y_train" if train else "y_test"]}
    if name == "fashion_mnist":
        lab, img = (paths[0], paths[1]) if train else (paths[2], paths[3])
        with gzip.open(lab, "rb") as f:
            y = np.frombuffer(f.read(), np.uint8, offset=8)
        with gzip.open(img, "rb") as f:
            x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(len(y), 28, 28)
        return {"image": x, "label": y}
    if name in ("cifar10", "cifar100"):
        from keras.src.datasets.cifar import load_batch

        folder = paths[0]
        if name == "cifar10":
            files = [folder / f"data_batch_{i}" for i in range(1, 6)] if train else [folder / "test_batch"]
            parts = [load_batch(str(f)) for f in files]
        else:
            parts = [load_batch(str(folder / ("train" if train else "test")), label_key="fine_labels")]
        x = np.concatenate([p[0] for p in parts]).transpose(0, 2, 3, 1)
        y = np.concatenate([np.asarray(p[1]) for p in parts]).astype(np.uint8)
        return {"image": x, "label": y}
    if name in ("boston_housing", "california_housing"):
        with np.load(paths[0], allow_pickle=False) as f:
            x, y = _split_xy(f["x"], f["y"], part)
        return {"features": x.astype(np.float32), "label": y.astype(np.float32)}
    # imdb, reuters: ragged word-index sequences stored as pickled object arrays.
    from keras.src.utils import npz_utils

    f = npz_utils.load_npz(str(paths[0]))
    if name == "imdb":
        xs, ys = (f["x_train"], f["y_train"]) if train else (f["x_test"], f["y_test"])
    else:
        xs, ys = _split_xy(f["x"], f["y"], part)
    seqs = np.empty(len(xs), dtype=object)
    seqs[:] = [np.concatenate([[1], np.asarray(s, dtype=np.int64) + 3]) for s in xs]  # start_char=1, index_from=3
    return {"sequence": seqs, "label": np.asarray(ys).astype(np.int64)}
