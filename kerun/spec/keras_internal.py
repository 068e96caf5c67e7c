"""Layers Keras ships in its own modules without publishing them under ``keras.layers``.

ConvNeXt's ``LayerScale`` and ``StochasticDepth`` live in ``keras.src.applications.convnext`` and
InceptionResNetV2's ``CustomScaleLayer`` in ``keras.src.applications.inception_resnet_v2``. They
are Keras's code, not the user's: a spec names them like any Keras layer, without a plugin, and
Keras's safe mode loads them back (it trusts classes of its own modules). The catalogue
(:func:`kerun.spec.catalog.lookup`) finds them here when ``keras.layers`` has no such name.

Standard library only (the spec layer). ``tests/model/test_real_models.py`` checks this table
against the real classes' ``__init__``, so a Keras that changes them fails the tests, not a user.
"""

from __future__ import annotations

import functools
from types import MappingProxyType
from typing import Any

__all__ = ["INTERNAL_LAYERS", "internal_layer"]

#: name -> (module, the constructor's own required arguments)
INTERNAL_LAYERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "LayerScale": ("keras.src.applications.convnext", ("init_values", "projection_dim")),
    "StochasticDepth": ("keras.src.applications.convnext", ("drop_path_rate",)),
    "CustomScaleLayer": ("keras.src.applications.inception_resnet_v2", ("scale",)),
}

# The keyword arguments every Keras layer takes through **kwargs (Layer.__init__).
_BASE = ("name", "dtype", "trainable", "autocast", "input_shape", "input_dim", "batch_input_shape", "batch_size")


@functools.cache
def internal_layer(name: str) -> Any:
    """The catalogue entry (a ``ClassInfo``) of one of :data:`INTERNAL_LAYERS`, else None."""
    if name not in INTERNAL_LAYERS:
        return None
    from kerun.spec.catalog import ArgInfo, ClassInfo

    module, required = INTERNAL_LAYERS[name]
    args = {a: ArgInfo(name=a, required=True, default=None, type="other") for a in required}
    for a in _BASE:
        args[a] = ArgInfo(name=a, required=False, default=True if a == "trainable" else None,
                          type="bool" if a in ("trainable", "autocast") else "null", via_kwargs=True)
    return ClassInfo(kind="layer", name=name, module=module, args=MappingProxyType(args), var_kwargs=False, unsafe=False)
