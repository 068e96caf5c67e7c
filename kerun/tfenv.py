"""TensorFlow's start-up noise, turned down before it is imported."""

from __future__ import annotations

import os

__all__ = ["quiet_tensorflow"]


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ info logs and absl warnings unless the user asked for them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    import tensorflow as tf  # noqa: F401  (imported once, here)

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover
        pass
