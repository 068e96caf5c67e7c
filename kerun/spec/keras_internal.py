"""Layers Keras ships in its own modules without publishing them under ``keras.layers``.

ConvNeXt's ``LayerScale`` and ``StochasticDepth`` live in ``keras.src.applications.convnext`` and
InceptionResNetV2's ``CustomScaleLayer`` in ``keras.src.applications.inception_resnet_v2``. They
are Keras's code, not the user's: a spec names them like any Keras layer, without a plugin, and
Keras's safe mode loads them back (it trusts classes of its own modules). The catalogue
(:func:`kerun.spec.catalog.lookup`) turns this table into entries when ``keras.layers`` has no
such name; this module is data only, so it imports nothing of kerun.

Standard library only (the spec layer). ``tests/model/test_real_models.py`` checks this table
against the real classes' ``__init__``, so a Keras that changes them fails the tests, not a user.
"""

from __future__ import annotations

__all__ = ["BASE_LAYER_KWARGS", "INTERNAL_LAYERS"]

#: name -> (module, the constructor's own required arguments)
INTERNAL_LAYERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "LayerScale": ("keras.src.applications.convnext", ("init_values", "projection_dim")),
    "StochasticDepth": ("keras.src.applications.convnext", ("drop_path_rate",)),
    "CustomScaleLayer": ("keras.src.applications.inception_resnet_v2", ("scale",)),
}

# The keyword arguments every Keras layer takes through **kwargs (Layer.__init__).
BASE_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast", "input_shape", "input_dim", "batch_input_shape", "batch_size")
