"""Shared test set-up: TensorFlow kept quiet before anything imports it, and the ``tf`` marker set by folder.

The tests mirror the package: those under a folder of a TensorFlow layer (model, data, run,
orchestrate, interop) or of whole-command tests that train (reliability, env), and the top-level
files listed below, import TensorFlow; ``pytest -m "not tf"`` runs the rest (the spec layer, the
command line's TensorFlow-free commands, the layering) in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kerun_testing import needs_tensorflow

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    for item in items:
        if needs_tensorflow(Path(str(item.fspath))):
            item.add_marker(pytest.mark.tf)
