"""Prediction inputs: turn what the user passed into a lazy stream of (name, BGR image).

Accepted: an image file, a folder (searched recursively), a glob pattern, a .txt file listing images, a numpy
array (HxWx3 BGR as OpenCV gives, or HxW gray), a PIL image (RGB), or a list mixing any of these. Paths are
resolved up front (so a typo fails before any work), but pixels are read one image at a time, so a folder of
any size costs the memory of one batch. An unreadable file among many is skipped with a warning and counted;
a single image file that cannot be read is an error.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yoloforge.data.files import IMG_FORMATS, is_image, list_images
from yoloforge.data.images import ImageError, pil_to_bgr, read_image
from yoloforge.errors import YoloforgeError
from yoloforge.utils.log import LOGGER

ACCEPTED = (
    "an image file (" + ", ".join(sorted(IMG_FORMATS)) + "), a folder of images, a glob like 'dir/*.jpg', "
    "a .txt file listing image paths, a numpy array (HxWx3 BGR uint8), a PIL image, or a list of these"
)
_GLOB_CHARS = "*?["


class SourceError(YoloforgeError, ValueError):
    """A prediction source that is missing, of an unsupported kind, or holds no readable image."""


@dataclass
class _InMemory:
    """An image the caller passed as an object (numpy array or PIL image), converted to BGR when read."""

    name: str
    obj: Any


@dataclass
class ImageSource:
    """The resolved items of a source, read lazily in order; `skipped` lists unreadable files met so far."""

    items: list[str | _InMemory]
    description: str
    strict: bool = False
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        for item in self.items:
            if isinstance(item, _InMemory):
                yield item.name, to_bgr(item.obj, item.name)
                continue
            try:
                img = read_image(item)
            except ImageError as e:
                if self.strict:
                    raise
                self.skipped.append(item)
                LOGGER.warning("skipped unreadable image %s (%d skipped so far)", e, len(self.skipped))
                continue
            yield item, img

    def batches(self, size: int) -> Iterator[list[tuple[str, np.ndarray]]]:
        """Lists of up to `size` (name, image) pairs; only one batch of pixels is held at a time."""
        batch: list[tuple[str, np.ndarray]] = []
        for pair in self:
            batch.append(pair)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


def _is_pil(obj: Any) -> bool:
    """Duck-typed so Pillow stays optional: a PIL image without importing PIL."""
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "convert") and hasattr(obj, "size")


def to_bgr(obj: Any, name: str = "image") -> np.ndarray:
    """A numpy array (BGR, BGRA or gray; uint8) or a PIL image (any mode) -> contiguous HxWx3 uint8 BGR."""
    if _is_pil(obj):
        return pil_to_bgr(obj, name)  # the pixels read_image gives for the same picture in a file
    arr = obj
    ok = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))
    if not ok or arr.dtype != np.uint8 or min(arr.shape[:2]) == 0:
        raise SourceError(
            f"{name}: a numpy source must be an HxWx3 BGR uint8 image (as cv2.imread gives), got shape "
            f"{arr.shape} dtype {arr.dtype}; convert with (img * 255).astype(np.uint8) or cv2.cvtColor"
        )
    if arr.ndim == 2 or arr.shape[2] == 1:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(arr)


def _glob(pattern: str) -> list[str]:
    found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p) and is_image(p))
    if not found:
        raise SourceError(f"source {pattern!r} (a glob) matched no image files ({', '.join(sorted(IMG_FORMATS))})")
    return [os.path.abspath(p) for p in found]


def _paths_of(text: str) -> list[str]:
    """Image paths of one path-like source: file, folder, glob or .txt list."""
    if "://" in text:
        raise SourceError(f"source {text!r}: URLs are not supported (nothing is downloaded); save the image first")
    path = os.path.expanduser(text)
    if not os.path.exists(path) and any(c in path for c in _GLOB_CHARS):
        return _glob(path)
    if not os.path.exists(path):
        raise SourceError(f"source {text!r} does not exist. Accepted: {ACCEPTED}")
    if os.path.isfile(path) and not is_image(path) and not path.lower().endswith(".txt"):
        raise SourceError(f"source {text!r} is not a supported image (videos are not supported). Accepted: {ACCEPTED}")
    return list_images(path)


def _items_of(obj: Any, index: int) -> list[str | _InMemory]:
    """The items of one source element (a list element, or the whole source)."""
    if isinstance(obj, (str, os.PathLike)):
        return list(_paths_of(os.fspath(obj)))
    if isinstance(obj, np.ndarray):
        to_bgr(obj, f"image{index}")  # validate now, so a bad array fails before any inference
        return [_InMemory(f"image{index}.jpg", obj)]
    if _is_pil(obj):
        name = Path(getattr(obj, "filename", "") or f"image{index}.jpg").name
        return [_InMemory(name, obj)]
    kind = type(obj).__module__ + "." + type(obj).__name__
    hint = " (convert a tensor with .permute(1, 2, 0).numpy() to HxWxC, BGR uint8)" if "torch" in kind else ""
    raise SourceError(f"unsupported source of type {kind}{hint}. Accepted: {ACCEPTED}")


def load_source(source: Any) -> ImageSource:
    """Resolve a source into an ImageSource; raises SourceError naming the source and what is accepted."""
    if source is None:
        raise SourceError(f"no source given: pass source=path/to/images. Accepted: {ACCEPTED}")
    elements = list(source) if isinstance(source, (list, tuple)) else [source]
    if not elements:
        raise SourceError(f"the source is an empty list. Accepted: {ACCEPTED}")
    items: list[str | _InMemory] = []
    for i, element in enumerate(elements):
        items.extend(_items_of(element, i))
    single_file = len(elements) == 1 and isinstance(source, (str, os.PathLike)) and os.path.isfile(source)
    strict = single_file and is_image(os.fspath(source))
    text = source if isinstance(source, (str, os.PathLike)) else f"{len(elements)} input(s)"
    return ImageSource(items, description=str(text), strict=strict)
