"""Shared test set-up: TensorFlow kept quiet, paths to the example specs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYTHONHASHSEED", "0")

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
EXAMPLES = sorted(SPECS.glob("*.yaml"))


@pytest.fixture
def examples() -> list[Path]:
    return EXAMPLES
