"""``model.dtype_policy``: float32, or mixed precision as Keras's mixed-precision guide does it.

The model is built under the spec's policy (Keras's global policy set for the build only and put
back afterwards: :func:`dtype_policy_scope`), so every layer carries it in its config and the
saved ``model.keras`` brings it back on load. Under a mixed policy the layers compute in float16
or bfloat16 and keep their variables in float32; the model's output entries are built in float32
(:func:`output_dtype`), as the guide's final ``Activation("softmax", dtype="float32")``, so the
loss and the metrics see float32 values. Under ``mixed_float16`` ``model.compile`` wraps the
optimizer in a ``LossScaleOptimizer`` itself (Keras's ``auto_scale_loss``), which scales the loss
so small float16 gradients do not underflow.

Mixed precision pays off on GPUs with float16 or bfloat16 units (NVIDIA compute capability 7.0 or
newer for float16, 8.0 for bfloat16) and TPUs; on a CPU it is correct but usually slower.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import keras

__all__ = ["MIXED", "STATISTICS", "dtype_policy_scope", "output_dtype"]

MIXED = ("mixed_float16", "mixed_bfloat16")
#: Preprocessing layers whose state is statistics of the data (a mean and variance, bin edges):
#: kept in float32 under a mixed policy, as Keras computes them in float32 and half precision
#: would lose them (and their adapt fails on float16 inputs).
STATISTICS = ("Normalization", "Discretization")


@contextlib.contextmanager
def dtype_policy_scope(name: str) -> Iterator[None]:
    """Keras's global dtype policy set to ``name`` inside the block, restored after it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def output_dtype(policy: str, args: dict[str, object]) -> dict[str, object]:
    """The arguments of an output entry (or a :data:`STATISTICS` layer): ``dtype: float32`` added
    under a mixed policy, unless the entry chose a dtype itself."""
    if policy in MIXED and "dtype" not in args:
        return {**args, "dtype": "float32"}
    return args
