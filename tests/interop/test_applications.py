"""The whole of keras.applications through kerun import and back (slow, deselected by default:
run it with  python -m pytest -m slow tests/interop/test_applications.py  , about 8 minutes on 2 cores).

Each architecture is built with ``weights=None`` at the smallest input it takes, saved, imported,
built from the spec, given the original's weights, and compared on the same input. ConvNeXt and
InceptionResNetV2 use layer classes from Keras's private application modules (``LayerScale``,
``CustomScaleLayer``): Keras's own code, they need no plugin (kerun/spec/keras_internal.py).
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from interop_testing import roundtrip

APPLICATIONS = sorted(n for n in dir(keras.applications) if n[:1].isupper())
NEEDS_PLUGIN = {"ConvNeXtTiny": "LayerScale", "ConvNeXtSmall": "LayerScale", "ConvNeXtBase": "LayerScale",
                "ConvNeXtLarge": "LayerScale", "ConvNeXtXLarge": "LayerScale", "InceptionResNetV2": "CustomScaleLayer"}
MIN_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
PLUGINS = Path(__file__).parent / "app_plugins.py"


@pytest.mark.slow
@pytest.mark.parametrize("name", APPLICATIONS)
def test_application_round_trips(name: str, tmp_path: Path) -> None:
    size = MIN_SIZE.get(name, 32)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    # ConvNeXt's LayerScale and InceptionResNetV2's CustomScaleLayer are Keras's own classes
    # (NEEDS_PLUGIN lists them): no plugin (issue 13, point 11).
    text, _ = roundtrip(model, tmp_path, rtol=1e-4, atol=1e-5)
    assert "plugins:" not in text
