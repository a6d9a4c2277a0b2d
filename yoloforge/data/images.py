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
from yoloforge.utils.log import LOGGER

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


_PREMULTIPLIED = {"RGBa": "RGBA", "La": "LA"}  # stored in files unpremultiplied: undo it before dropping alpha


def pil_to_bgr(image: Any, name: str = "PIL image") -> np.ndarray:
    """A PIL image of any mode -> HxWx3 uint8 BGR: the pixels `read_image` gives for the same picture saved
    to a file, so predicting on `Image.open(f)` and on `f` agree.

    As OpenCV's IMREAD_COLOR reads files: EXIF orientation applied; alpha dropped, not blended (premultiplied
    RGBa/La unpremultiplied first); palettes expanded; mode "1" as 0/255; 16-bit samples ("I;16", "I;16B",
    ...) shifted right by 8 bits. Mode "I" (32-bit integers) is read as 16-bit samples when its values fit in
    0..65535 (older Pillow opens 16-bit PNGs so, and a 16-bit file is the only one holding them that the
    reader reads). CMYK, YCbCr, HSV and LAB go through Pillow's conversion (CMYK and YCbCr within one level of
    what a decoder gives for such a file: each rounds the colour transform its own way). Raises ImageError
    naming the mode for "F" (floats have no 0-255 scale), for "I" values outside 0..65535, and for a mode
    Pillow cannot turn into RGB.
    """
    from PIL import ImageOps

    if image.getexif().get(0x0112, 1) != 1:
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "F":
        raise ImageError(name, "PIL mode 'F' (32-bit float) has no 0-255 scale; convert it to 8-bit first, "
                         "e.g. Image.fromarray((np.asarray(im) * 255).clip(0, 255).astype(np.uint8))")  # fmt: skip
    if mode == "I" or mode.startswith("I;16"):
        return _integer_to_bgr(np.asarray(image), mode, name)
    if mode in _PREMULTIPLIED:
        image = image.convert(_PREMULTIPLIED[mode])
    if mode not in ("RGB", "RGBA", "RGBX"):
        try:
            image = image.convert("RGB")
        except (ValueError, OSError) as e:
            raise ImageError(name, f"PIL mode {mode!r} cannot be converted to RGB ({e}); convert it first") from e
    rgb = np.asarray(image)[..., :3]
    return np.ascontiguousarray(rgb[..., ::-1])


def _integer_to_bgr(a: np.ndarray, mode: str, name: str) -> np.ndarray:
    """16-bit samples (or 32-bit holding 0..65535) -> 8-bit gray BGR by the top 8 bits, as OpenCV reads files."""
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if lo < 0 or hi > 65535:
        raise ImageError(name, f"PIL mode {mode!r} holds values {lo}..{hi}, outside 0..65535 (16 bits), so no "
                         "image file the reader reads can hold it; scale it to 8 bits first")  # fmt: skip
    if mode == "I" and 0 < hi <= 255:
        LOGGER.warning("%s: PIL mode 'I' read as 16-bit samples (value / 256) is nearly black, its values being "
                       "0..%d; if they are 8-bit, pass im.convert('L')", name, hi)  # fmt: skip
    gray = (a.astype(np.uint32) >> 8).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
