"""The ``tf`` marker is set by folder (tests/conftest.py), so ``-m "not tf"`` leaves TensorFlow out."""

from __future__ import annotations

from pathlib import Path

import pytest

from kerun_testing import TESTS, needs_tensorflow


@pytest.mark.parametrize("rel, tf", [
    ("model/test_examples.py", True), ("data/test_sources.py", True), ("run/test_train.py", True),
    ("orchestrate/test_check.py", True), ("interop/test_import.py", True), ("reliability/test_faults.py", True),
    ("test_api.py", True), ("test_tfenv.py", True),
    ("spec/test_loader.py", False), ("test_cli.py", False), ("test_layers.py", False), ("test_imports.py", False),
])
def test_marker_by_folder(rel: str, tf: bool) -> None:
    assert needs_tensorflow(TESTS / rel) is tf


def test_this_file_is_collected_without_the_marker(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("tf") is None
    assert not needs_tensorflow(Path(__file__))
