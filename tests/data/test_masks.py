"""``type: images`` with ``masks:``: images and masks paired by file name stem, the mask a
per-pixel integer target resized with the nearest neighbour; a file without its partner is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datahelpers import collect, make_spec
from kerun.data import load_datasets
from kerun.errors import DataError, SpecError

SPEC = """
data:
  train: {type: images, path: images, image_size: [8, 8], masks: {path: masks}}
model:
  inputs: {image: [8, 8, 3]}
  layers:
    - {type: Conv2D, filters: 3, kernel_size: 1, activation: softmax, name: mask}
compile: {loss: sparse_categorical_crossentropy}
train: {batch_size: 4, shuffle: false}
"""


def pairs(tmp_path: Path, n: int = 5, size: int = 16) -> list[np.ndarray]:
    """n 16x16 RGB images (.jpg and .png mixed) with palette masks of classes 0-2 in 4x4 blocks."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(1)
    masks = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(tmp_path / "images" / f"pet{i}.{'png' if i % 2 else 'jpg'}")
        blocks = rng.integers(0, 3, (size // 4, size // 4)).astype(np.uint8)
        mask = np.kron(blocks, np.ones((4, 4), dtype=np.uint8))
        img = Image.fromarray(mask, mode="P")
        img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
        img.save(tmp_path / "masks" / f"pet{i}.png")
        masks.append(mask)
    return masks


def test_masks_pair_by_stem_and_keep_integer_classes_resized_nearest(tmp_path: Path) -> None:
    want = pairs(tmp_path)
    loaded, built = make_spec(tmp_path, SPEC)
    x, y = collect(load_datasets(loaded, built).train)
    assert x.shape == (5, 8, 8, 3) and y.shape == (5, 8, 8) and y.dtype == np.int32
    for got, mask in zip(y, want):  # name order: pet0 .. pet4
        expected = np.asarray(Image.fromarray(mask).resize((8, 8), Image.NEAREST))
        np.testing.assert_array_equal(got, expected)
    assert set(np.unique(y)) <= {0, 1, 2}


def test_an_image_without_its_mask_is_named(tmp_path: Path) -> None:
    pairs(tmp_path)
    (tmp_path / "masks" / "pet3.png").unlink()
    loaded, built = make_spec(tmp_path, SPEC)
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "the image pet3.png has no mask in" in str(err.value) and "spec.yaml:3:" in str(err.value)


def test_a_mask_without_its_image_is_named(tmp_path: Path) -> None:
    pairs(tmp_path)
    (tmp_path / "images" / "pet2.jpg").unlink()
    loaded, built = make_spec(tmp_path, SPEC)
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "the mask pet2.png has no image in" in str(err.value)


def test_a_colour_mask_is_refused(tmp_path: Path) -> None:
    pairs(tmp_path, n=2)
    Image.new("RGB", (16, 16), (255, 0, 0)).save(tmp_path / "masks" / "pet1.png")
    loaded, built = make_spec(tmp_path, SPEC)
    with pytest.raises(DataError) as err:
        load_datasets(loaded, built)
    assert "pet1.png: a RGB mask" in str(err.value)


def test_a_missing_mask_folder_is_refused_at_validate(tmp_path: Path) -> None:
    pairs(tmp_path, n=1)
    with pytest.raises(SpecError) as err:
        make_spec(tmp_path, SPEC.replace("masks: {path: masks}", "masks: {path: maskz}"))
    assert "data.train.masks.path: no such folder: 'maskz'" in str(err.value)
