"""Reading images the same way everywhere: 3-channel 8-bit BGR, EXIF-oriented, any path.

OpenCV's `imread` cannot open non-ASCII paths on some platforms, so the bytes are read with numpy
and decoded with `cv2.imdecode`. `IMREAD_COLOR` makes grayscale, RGBA and 16-bit images 3-channel
8-bit (16-bit values are scaled by 1/256, not clipped) and applies the EXIF orientation.
"""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np

from yoloforge.errors import YoloforgeError

_JPEG_SOI = b"\xff\xd8"
_JPEG_SOS = b"\xff\xda"
_JPEG_EOI = b"\xff\xd9"
# EXIF orientations 5..8 are transposes: width and height swap.
_SWAPPED_ORIENTATIONS = (5, 6, 7, 8)


class ImageError(YoloforgeError, ValueError):
    """An image file that cannot be used: unreadable, truncated, empty or of zero size."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple:  # picklable across processes despite the two-argument __init__
        return type(self), (self.path, self.reason)


def _read_bytes(path: str | os.PathLike) -> np.ndarray:
    """The file's bytes; raises ImageError for a missing, unreadable or empty file."""
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise ImageError(path, f"unreadable ({e.strerror or e})") from e
    if buf.size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    return buf


def jpeg_complete(buf: bytes | np.ndarray) -> bool:
    """Whether a JPEG has its end marker after its last scan (libjpeg silently pads truncated ones).

    Entropy-coded data cannot contain FF D9 (0xFF is byte-stuffed), and an embedded EXIF thumbnail
    ends before the main image's scans, so an EOI after the last SOS means the image is complete.
    """
    tail = bytes(buf[-2:])
    if tail == _JPEG_EOI:  # the usual case, checked without copying the file
        return True
    data = buf.tobytes() if isinstance(buf, np.ndarray) else bytes(buf)
    return data.rfind(_JPEG_EOI) > data.rfind(_JPEG_SOS)


def _is_jpeg(buf: np.ndarray) -> bool:
    return buf.size >= 2 and buf[:2].tobytes() == _JPEG_SOI


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to an HxWx3 uint8 BGR array, EXIF orientation applied.

    Raises ImageError naming the file and the reason (unreadable, empty, truncated, zero size).
    """
    buf = _read_bytes(path)
    if _is_jpeg(buf) and not jpeg_complete(buf):
        raise ImageError(path, "truncated JPEG (no end-of-image marker after the last scan)")
    try:
        im = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as e:
        raise ImageError(path, f"unreadable ({str(e).strip().splitlines()[-1]})") from e
    if im is None:
        raise ImageError(path, "unreadable (not an image OpenCV can decode, or corrupt)")
    if im.size == 0 or min(im.shape[:2]) == 0:
        raise ImageError(path, f"zero size ({im.shape[1]}x{im.shape[0]})")
    return _as_bgr8(im)


def _as_bgr8(im: np.ndarray) -> np.ndarray:
    """Guard for decoders that ignore IMREAD_COLOR's promise (gray, alpha or non-8-bit output)."""
    if im.dtype != np.uint8:
        scale = 255.0 / np.iinfo(im.dtype).max if im.dtype.kind in "ui" else 255.0
        im = np.clip(im.astype(np.float32) * scale, 0, 255).round().astype(np.uint8)
    if im.ndim == 2:
        im = cv2.cvtColor(im, cv2.COLOR_GRAY2BGR)
    elif im.shape[2] == 4:
        im = cv2.cvtColor(im, cv2.COLOR_BGRA2BGR)
    elif im.shape[2] == 1:
        im = cv2.cvtColor(im, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(im)


def verify_image(path: str | os.PathLike) -> tuple[int, int]:
    """Fully decode the image (catching truncation and corruption) and return its oriented (h, w)."""
    h, w = read_image(path).shape[:2]
    return h, w


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(h, w) after EXIF orientation, from the header alone when Pillow can read it.

    Cheap (no pixel decoding) but does not prove the file is intact: use verify_image for that.
    Falls back to a full decode when Pillow is missing, cannot parse the header, or the format's
    orientation handling differs between Pillow versions (TIFF).
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        return verify_image(path)
    try:
        with Image.open(path) as im:
            size = _header_size(im, Image.Exif)
    except FileNotFoundError as e:
        raise ImageError(path, f"unreadable ({e.strerror})") from e
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        size = None
    if size is None:
        return verify_image(path)  # raises ImageError with the decoder's reason, or succeeds
    if min(size) <= 0:
        raise ImageError(path, f"zero size ({size[1]}x{size[0]})")
    return size


def _header_size(im: Any, exif_type: Any) -> tuple[int, int] | None:
    """Oriented (h, w) from an opened Pillow image without decoding pixels; None if not trusted."""
    w, h = im.size
    if im.format in ("JPEG", "MPO", "WEBP"):
        orientation = im.getexif().get(0x0112, 1)  # read from the header for these formats
    elif im.format == "PNG":  # PNG's getexif() would decode the image: use an early eXIf chunk only
        raw = im.info.get("exif")
        exif = exif_type()
        if raw:
            exif.load(raw)
        orientation = exif.get(0x0112, 1)
    elif im.format == "BMP":
        orientation = 1
    else:
        return None
    return (w, h) if orientation in _SWAPPED_ORIENTATIONS else (h, w)
