"""kerun: a declarative model-and-training runner for tf.keras.

The spec layer (:mod:`kerun.spec`) needs neither TensorFlow nor Keras; everything that trains is
imported on first use, so ``import kerun`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerun.errors import BuildError, DataError, KerunError, Location, PluginError, Problem, RunError, SpecError

__version__ = "0.1.0"

__all__ = [
    "BuildError",
    "DataError",
    "KerunError",
    "LoadedSpec",
    "Location",
    "PluginError",
    "Problem",
    "RunError",
    "SpecError",
    "__version__",
    "build_model",
    "load_spec",
    "train",
    "train_file",
]

# Imported on first use: pydantic and the spec models cost about 0.1 s that `kerun --help` (and
# anything importing kerun.errors) need not pay (benchmarks/README.md, start-up).
_LAZY = {
    "LoadedSpec": "kerun.spec",
    "load_spec": "kerun.spec",
    "build_model": "kerun.model.model",
    "train": "kerun.run.train",
    "train_file": "kerun.run.train",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kerun' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from kerun.model.model import build_model
    from kerun.run.train import train, train_file
    from kerun.spec import LoadedSpec, load_spec
