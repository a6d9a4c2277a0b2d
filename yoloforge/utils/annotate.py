"""Draw boxes and labels on BGR images with OpenCV (predictions, and batch mosaics in plots).

Colours come from a fixed palette indexed by class id, so a class keeps its colour across images and runs.
The palette is Kenneth Kelly's list of colours of maximum contrast (1965) without white and black.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from yoloforge.utils.boxes import to_numpy

# RGB hex, in Kelly's order (each next colour contrasts most with those before it).
_PALETTE_HEX = (
    "F3C300", "875692", "F38400", "A1CAF1", "BE0032", "C2B280", "848482", "008856", "E68FAC", "0067A5",
    "F99379", "604E97", "F6A600", "B3446C", "DCD300", "882D17", "8DB600", "654522", "E25822", "2B3D26",
)  # fmt: skip
PALETTE: tuple[tuple[int, int, int], ...] = tuple(
    (int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16)) for h in _PALETTE_HEX
)  # stored as (b, g, r) for OpenCV

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(i: int) -> tuple[int, int, int]:
    """The (b, g, r) colour of class `i` (the palette repeats after len(PALETTE) classes)."""
    return PALETTE[int(i) % len(PALETTE)]


def default_line_width(shape: Sequence[int]) -> int:
    """A line width that stays visible on large images and thin on small ones (2 px at 640x480)."""
    return max(1, round((shape[0] + shape[1]) * 0.0015))


def _name(names: Mapping[int, str] | Sequence[str] | None, c: int) -> str:
    if names is None:
        return str(c)
    if isinstance(names, Mapping):
        return str(names.get(c, c))
    return str(names[c]) if 0 <= c < len(names) else str(c)


def _text_color(bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones (perceived luminance)."""
    b, g, r = bgr
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def _draw_label(img: np.ndarray, text: str, x1: int, y1: int, color: tuple[int, int, int], lw: int) -> None:
    """A filled tag with the text at the box's top-left corner: above the box if there is room, else inside."""
    scale, thick = lw / 3, max(lw - 1, 1)
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    th += base
    h, w = img.shape[:2]
    x1 = min(max(x1, 0), max(w - tw, 0))
    top = y1 - th - 2 if y1 - th - 2 >= 0 else y1
    top = min(max(top, 0), max(h - th - 2, 0))
    cv2.rectangle(img, (x1, top), (x1 + tw, top + th + 2), color, -1, cv2.LINE_AA)
    cv2.putText(img, text, (x1, top + th - base + 1), _FONT, scale, _text_color(color), thick, cv2.LINE_AA)


def draw_boxes(
    img_bgr: np.ndarray,
    boxes_xyxy: Any,
    cls: Any,
    conf: Any | None,
    names: Mapping[int, str] | Sequence[str] | None,
    line_width: int | None = None,
    show_labels: bool = True,
    show_conf: bool = True,
) -> np.ndarray:
    """An annotated copy of an HxWx3 uint8 BGR image; the input is left unchanged.

    `boxes_xyxy` (n, 4) pixels, `cls` (n,) class ids and `conf` (n,) or None may be numpy arrays, torch tensors
    or lists. The label reads "name 0.87" (name only when `conf` is None or `show_conf` is False).
    """
    if not (isinstance(img_bgr, np.ndarray) and img_bgr.ndim == 3 and img_bgr.shape[2] == 3):
        shape = getattr(img_bgr, "shape", type(img_bgr).__name__)
        raise ValueError(f"draw_boxes needs an HxWx3 BGR numpy image, got {shape}")
    img = np.ascontiguousarray(img_bgr, dtype=np.uint8).copy()
    boxes = to_numpy(boxes_xyxy).astype(np.float64).reshape(-1, 4)
    ids = to_numpy(cls).astype(np.float64).reshape(-1).astype(int)
    scores = None if conf is None else to_numpy(conf).astype(np.float64).reshape(-1)
    if len(ids) != len(boxes) or (scores is not None and len(scores) != len(boxes)):
        n_conf = "no" if scores is None else len(scores)
        raise ValueError(f"draw_boxes: {len(boxes)} boxes but {len(ids)} class ids and {n_conf} confidences")
    lw = line_width or default_line_width(img.shape)
    for i, (x1, y1, x2, y2) in enumerate(np.round(boxes).astype(int)):
        color = class_color(ids[i])
        cv2.rectangle(img, (x1, y1), (x2, y2), color, lw, cv2.LINE_AA)
        if show_labels:
            text = _name(names, ids[i])
            if show_conf and scores is not None:
                text += f" {scores[i]:.2f}"
            _draw_label(img, text, x1, y1, color, lw)
    return img
