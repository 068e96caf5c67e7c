"""Helpers for the kerun.data tests: specs from text next to files written in tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from kerun.model.model import build_model
from kerun.spec import spec_from_text


def make_spec(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()):
    """(LoadedSpec, BuiltModel) for a spec written as if it lived in tmp_path/spec.yaml.

    The data tests never compile: a spec without ``compile:`` gets ``loss: mse`` so that it
    validates (validate refuses a spec without a loss)."""
    text = textwrap.dedent(text)
    if "\ncompile:" not in "\n" + text:
        text = text.rstrip() + "\ncompile: {optimizer: adam, loss: mse}\n"
    loaded = spec_from_text(text, file=str(tmp_path / "spec.yaml"), overrides=overrides)
    return loaded, build_model(loaded)


def collect(ds: tf.data.Dataset) -> Any:
    """Every batch of ``ds`` concatenated: the same nested structure, numpy arrays."""
    parts = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds]
    assert parts, "the dataset is empty"
    return tf.nest.map_structure(lambda *xs: np.concatenate(xs), *parts)


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    path.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    """40 rows: label in {0, 1, 2}, columns a, b, c with row-dependent values (row i: a=i, b=2i, c=i/10)."""
    rows = [[i % 3, i, 2 * i, i / 10] for i in range(40)]
    return write_csv(tmp_path / "table.csv", ["label", "a", "b", "c"], rows)


MLP3 = """
model:
  inputs: {{x: [{width}]}}
  layers:
    - {{type: Dense, units: 3, activation: softmax}}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
train: {{batch_size: 8, shuffle: false}}
"""


def mlp3(width: int = 3) -> str:
    return MLP3.format(width=width)
