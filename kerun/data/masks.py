"""``type: images`` with ``masks:``: segmentation, images paired with masks by file name stem.

``path`` is a folder of images and ``masks.path`` a folder of masks; ``cat.jpg`` pairs with
``cat.png`` (any image extension on either side). An image without its mask, or a mask without its
image, is an error naming the file. Fields: ``image`` as the classification source gives it
(float32, resized bilinearly to ``image_size``) and ``mask`` (``masks.field``; int32, height x
width, the source's label): one integer class per pixel, resized with the nearest neighbour so no
class is invented between two others. A palette ("P") or grayscale mask keeps its pixel values as
the classes; a colour mask is refused (which colour is which class is not written anywhere).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kerun.data._common import Arrays, SourceContext

__all__ = ["pair_files", "read_masks"]

_CLASS_MODES = frozenset({"P", "L", "I", "I;16", "1"})


def _by_stem(ctx: SourceContext, root: Path, key: tuple[str, ...], extensions: frozenset[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for p in sorted(root.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions:
            if p.stem in files:
                raise ctx.error(f"{files[p.stem].name} and {p.name} in {root} have the same name stem: which one pairs is unclear",
                                *key, hint="keep one file per name")
            files[p.stem] = p
    return files


def pair_files(ctx: SourceContext, images: Path, masks: Path, extensions: frozenset[str]) -> list[tuple[Path, Path]]:
    """(image, mask) pairs in name order; a file without its partner is an error naming it."""
    if not masks.is_dir():
        raise ctx.error(f"{masks} is not a folder of masks", "masks", "path")
    found = _by_stem(ctx, images, ("path",), extensions)
    if not found:
        raise ctx.error(f"{images}: no image files ({', '.join(sorted(extensions))})", "path")
    marks = _by_stem(ctx, masks, ("masks", "path"), extensions)
    for stem, p in found.items():
        if stem not in marks:
            raise ctx.error(f"the image {p.name} has no mask in {masks} (expected {stem}.png or another image file named {stem})",
                            "masks", "path", hint="every image needs a mask of the same name stem; remove the image or add its mask")
    for stem, p in marks.items():
        if stem not in found:
            raise ctx.error(f"the mask {p.name} has no image in {images} (expected an image named {stem})", "masks", "path",
                            hint="every mask needs an image of the same name stem; remove the mask or add its image")
    return [(found[s], marks[s]) for s in sorted(found)]


def read_masks(ctx: SourceContext, limit: int | None, modes: dict[str, tuple[str, int]], extensions: frozenset[str]) -> Arrays:
    from PIL import Image, UnidentifiedImageError

    spec = ctx.spec
    pairs = pair_files(ctx, ctx.file(), ctx.resolve(spec.masks.path), extensions)
    if limit is not None:
        pairs = pairs[:limit]
    height, width = spec.image_size
    mode, channels = modes[spec.color_mode]
    images = np.empty((len(pairs), height, width, channels), dtype=np.float32)
    masks = np.empty((len(pairs), height, width), dtype=np.int32)

    def decode(i: int) -> tuple[Path, str] | None:
        image_file, mask_file = pairs[i]
        current = image_file
        try:
            with Image.open(image_file) as img:
                img = img.convert(mode)
                if img.size != (width, height):
                    img = img.resize((width, height), Image.BILINEAR)
                images[i] = np.asarray(img, dtype=np.float32).reshape(height, width, channels)
            current = mask_file
            with Image.open(mask_file) as m:
                if m.mode not in _CLASS_MODES:
                    return mask_file, (f"a {m.mode} mask: a mask holds one class per pixel (a grayscale or palette image), "
                                       "not colours")
                if m.size != (width, height):
                    m = m.resize((width, height), Image.NEAREST)
                masks[i] = np.asarray(m).astype(np.int32)
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as e:
            return current, f"not a readable image: {e}"
        return None

    workers = min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for problem in pool.map(decode, range(len(pairs))):
            if problem is not None:
                where = ("masks", "path") if problem[0].parent == ctx.resolve(spec.masks.path) else ("path",)
                raise ctx.error(f"{problem[0]}: {problem[1]}", *where, hint="replace the file, or save the mask as a grayscale PNG of class ids")
    return Arrays({spec.field: images, spec.masks.field: masks})
