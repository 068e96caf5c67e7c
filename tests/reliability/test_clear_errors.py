"""Input that used to end in a traceback ends in a located, clear error (issue 20, points 11 and 12):
CSV delimiters, npz headers and PNG sizes that lie, a callback whose package is missing, and
``--set`` into a list whose entries have names that are not text."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from kerun.errors import KerunError, SpecError
from kerun.spec import load_spec, spec_from_text

TINY = """\
model:
  inputs: {x: [2]}
  layers:
    - {type: Dense, units: 1, name: out}
compile: {loss: mse}
train: {epochs: 1}
"""


def train_error(spec: Path) -> KerunError:
    from kerun.run.train import TrainOptions, train_file

    with pytest.raises(KerunError) as err:
        train_file(spec, [], TrainOptions(runs_dir=spec.parent / "runs", progress="quiet"))
    assert "Traceback" not in err.value.render()
    return err.value


@pytest.mark.parametrize("delimiter", [";;", "", "\n", '"'])
def test_csv_delimiter_is_one_character_checked_at_validate(tmp_path: Path, delimiter: str) -> None:
    (tmp_path / "d.csv").write_text("a;b;out\n1;2;0\n")
    quoted = delimiter.replace("\n", "\\n").replace('"', '\\"')
    (tmp_path / "s.yaml").write_text(f'data:\n  train: {{type: csv, path: d.csv, label: out, delimiter: "{quoted}"}}\n' + TINY)
    with pytest.raises(SpecError) as err:
        load_spec(tmp_path / "s.yaml")
    (problem,) = err.value.problems
    assert problem.path == ("data", "train", "delimiter") and problem.location.line == 2


def _npy_header_only(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 64


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    return buf.getvalue()


def test_an_npz_header_claiming_2_40_rows_is_refused_before_allocating(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "d.npz", "w") as z:
        z.writestr("x.npy", _npy_header_only((2**40, 2)))
        z.writestr("out.npy", _npy(np.zeros((4, 1), "float32")))
    (tmp_path / "s.yaml").write_text("data:\n  train: {type: npz, path: d.npz}\n" + TINY)
    err = train_error(tmp_path / "s.yaml")
    assert "header claims shape (1099511627776, 2)" in err.message and err.location.line == 2


def _png_claiming(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, format="PNG")
    png = buf.getvalue()
    chunk = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


def test_a_png_claiming_30000_by_30000_pixels_is_a_clear_error(tmp_path: Path) -> None:
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        Image.new("L", (4, 4)).save(tmp_path / "imgs" / cls / "fine.png")
    (tmp_path / "imgs" / "a" / "bomb.png").write_bytes(_png_claiming(30000, 30000))
    (tmp_path / "s.yaml").write_text(
        "data:\n  train: {type: images, path: imgs, image_size: [4, 4], color_mode: grayscale}\nmodel:\n"
        "  inputs: {image: [4, 4, 1]}\n  layers:\n    - {type: Flatten}\n    - {type: Dense, units: 2}\n"
        "compile: {loss: sparse_categorical_crossentropy}\ntrain: {epochs: 1}\n")
    err = train_error(tmp_path / "s.yaml")
    assert "bomb.png is not a readable image" in err.message and "decompression bomb" in err.message


def test_a_callback_whose_package_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    def missing(*args: object, **kwargs: object) -> None:
        raise ImportError("OrbaxCheckpoint requires the 'orbax-checkpoint' package.")

    monkeypatch.setattr(keras.callbacks.OrbaxCheckpoint, "__init__", missing)  # as when it is not installed
    (tmp_path / "s.yaml").write_text(
        "data:\n  train: {type: synthetic, size: 8, fields: {x: {shape: [2]}, out: {shape: [1]}}}\n"
        + TINY.replace("train: {epochs: 1}", "train:\n  epochs: 1\n  callbacks: [{type: OrbaxCheckpoint}]"))
    err = train_error(tmp_path / "s.yaml")
    assert "OrbaxCheckpoint cannot be used" in err.message and "orbax-checkpoint" in err.message
    assert err.location.line == 10 and err.problems[0].path == ("train", "callbacks", 0)


@pytest.mark.parametrize("name", ["[a]", "{a: 1}", "7", "true"])
def test_set_into_a_list_whose_entry_names_are_not_text(name: str) -> None:
    text = TINY.replace("name: out", f"name: {name}")
    with pytest.raises(SpecError) as err:
        spec_from_text(text, file="s.yaml", overrides=["model.layers.dense.units=3"])
    assert any("has no entry 'dense'" in p.message for p in err.value.problems)


def test_thousands_of_problems_are_capped_and_counted() -> None:
    from kerun.errors import MAX_PROBLEMS

    layers = "".join(f"    - {{type: Dense, units: -{i + 1}}}\n" for i in range(3000))
    with pytest.raises(SpecError) as err:
        spec_from_text("model:\n  inputs: {x: [2]}\n  layers:\n" + layers + "compile: {loss: mse}\n", file="s.yaml")
    problems = err.value.problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].message == f"... and {3000 - MAX_PROBLEMS:,} more problems (the first {MAX_PROBLEMS} are shown)"
    assert len(err.value.render().splitlines()) < 2 * MAX_PROBLEMS + 5


@pytest.mark.parametrize("entry", [None, [1], "x", 3])
def test_a_block_used_next_to_a_non_mapping_entry(entry: object) -> None:
    import yaml

    from kerun.spec import dump_yaml
    from kerun_testing import SPECS

    data = yaml.safe_load((SPECS / "xception_blocks.yaml").read_text())
    data["model"]["layers"][5] = entry  # found by the fuzz: an AttributeError in blocks.expand
    with pytest.raises(SpecError) as err:
        spec_from_text(dump_yaml(data), file=str(SPECS / "fuzz.yaml"))
    assert any(p.path == ("model", "layers", 5) for p in err.value.problems)
    data["model"]["layers"][5] = data["model"]["layers"][4]
    data["model"]["layers"][3] = entry  # the entry before a block's use (its input, by name)
    with pytest.raises(SpecError) as err:
        spec_from_text(dump_yaml(data), file=str(SPECS / "fuzz.yaml"))
    assert any(p.path == ("model", "layers", 3) for p in err.value.problems)
