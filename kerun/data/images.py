"""``type: images``: a folder with one sub-folder per class of image files.

Fields: ``image`` (float32, height x width x channels, values 0-255, resized to ``image_size``)
and ``label`` (the class index; classes are the sub-folder names, sorted). Decoding uses PIL in a
small thread pool (PIL releases the GIL while decoding).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kerun.data._common import Arrays, SourceContext

__all__ = ["IMAGE_EXTENSIONS", "class_folders", "read_images"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
_MODES = {"rgb": ("RGB", 3), "grayscale": ("L", 1), "rgba": ("RGBA", 4)}


def class_folders(ctx: SourceContext, root: Path, extensions: frozenset[str] | None) -> tuple[list[str], list[Path], np.ndarray]:
    """Sorted class names, files in (class, name) order, and their class indices."""
    if not root.is_dir():
        raise ctx.error(f"{root} is not a folder: expected one sub-folder per class", "path")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ctx.error(f"{root} has no sub-folders: expected one sub-folder per class", "path")
    files: list[Path] = []
    labels: list[int] = []
    for i, name in enumerate(classes):
        found = sorted(
            p for p in (root / name).rglob("*")
            if p.is_file() and not p.name.startswith(".") and (extensions is None or p.suffix.lower() in extensions)
        )
        files.extend(found)
        labels.extend([i] * len(found))
    if not files:
        kinds = ", ".join(sorted(extensions)) if extensions else "any"
        raise ctx.error(f"{root}: no files ({kinds}) in the class sub-folders {classes}", "path")
    return classes, files, np.asarray(labels, dtype=np.int32)


def read_images(ctx: SourceContext, limit: int | None = None) -> tuple[Arrays, list[str] | None]:
    from PIL import Image, UnidentifiedImageError

    spec = ctx.spec
    if spec.masks is not None:  # segmentation: images paired with masks (kerun.data.masks)
        from kerun.data.masks import read_masks

        return read_masks(ctx, limit, _MODES, IMAGE_EXTENSIONS), None
    root = ctx.file()
    classes, files, labels = class_folders(ctx, root, IMAGE_EXTENSIONS)
    if limit is not None:
        files, labels = files[:limit], labels[:limit]
    height, width = spec.image_size
    mode, channels = _MODES[spec.color_mode]
    out = np.empty((len(files), height, width, channels), dtype=np.float32)

    def decode(i: int) -> Exception | None:
        try:
            with Image.open(files[i]) as img:
                img = img.convert(mode)
                if img.size != (width, height):
                    img = img.resize((width, height), Image.BILINEAR)
                arr = np.asarray(img, dtype=np.float32)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as e:
            return e  # DecompressionBombError: the header claims more pixels than PIL's limit
        out[i] = arr.reshape(height, width, channels)
        return None

    workers = min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, problem in enumerate(pool.map(decode, range(len(files)))):
            if problem is not None:
                raise ctx.error(f"{files[i]} is not a readable image: {problem}", "path",
                                hint="remove or replace the file; every file in a class folder with an image extension is read")
    return Arrays({spec.field: out, "label": labels}), classes
