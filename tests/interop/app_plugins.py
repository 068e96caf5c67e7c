"""Plugin classes for the two keras.applications that use layers Keras does not publish.

ConvNeXt uses ``LayerScale`` and InceptionResNetV2 ``CustomScaleLayer``; both live in Keras's
private application modules and are not registered, so a spec can name them only through a plugin
like this one: ``kerun import MODEL --plugins app_plugins.py``.
"""

import keras
from keras.src.applications.convnext import LayerScale as _LayerScale
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer as _CustomScaleLayer


@keras.saving.register_keras_serializable(package="applications")
class LayerScale(_LayerScale):
    """ConvNeXt's per-channel scale of a residual branch."""


@keras.saving.register_keras_serializable(package="applications")
class CustomScaleLayer(_CustomScaleLayer):
    """InceptionResNetV2's ``inputs[0] + inputs[1] * scale``."""
