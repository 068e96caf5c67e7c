"""A bad value deep in a CSV is reported at its line of the file, streamed or read whole, with or
without a hold-out split (issue 20, point 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kerun.errors import KerunError

SPEC = """
data:
  train: {{type: csv, path: rows.csv, label: label, stream: {stream}}}
  {split}
model:
  inputs: {{x: [2]}}
  layers: [{{type: Dense, units: 2, activation: softmax}}]
compile: {{loss: sparse_categorical_crossentropy}}
train: {{epochs: 1, batch_size: 64}}
"""


def write(folder: Path, bad_row: str, stream: bool, split: bool) -> Path:
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{a:.3f},{b:.3f},{i % 2}" for i, (a, b) in enumerate(rng.random((3000, 2)))]
    rows[2500] = bad_row  # line 2501 of the file
    (folder / "rows.csv").write_text("\n".join(rows) + "\n")
    spec = folder / "spec.yaml"
    spec.write_text(SPEC.format(stream="true" if stream else "false",
                                split="validation: {split: 0.25}" if split else ""))
    return spec


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize("split", [True, False], ids=["hold-out", "no-split"])
@pytest.mark.parametrize("bad_row", ["0.5,abc,1", "0.5,0.25"], ids=["text-in-numbers", "short-row"])
def test_the_error_names_the_line_of_the_file(tmp_path: Path, bad_row: str, stream: bool, split: bool) -> None:
    from kerun.run.options import TrainOptions
    from kerun.run.train import train_file

    spec = write(tmp_path, bad_row, stream, split)
    with pytest.raises(KerunError) as err:
        train_file(spec, options=TrainOptions(runs_dir=tmp_path / "runs", progress="quiet"))
    assert "line 2501" in err.value.render(), err.value.render()
