"""Letterbox: resize keeping the aspect ratio, then pad to a target shape.

Validation, prediction and rectangular batches use it. Where the image went is returned as a
`utils.boxes.RatioPad` ((gain_h, gain_w), (pad_w, pad_h)): gains per axis (the resize rounds the new size
to whole pixels) and the whole pixels added on the left and top. `utils.boxes.scale_boxes` reads it to map
boxes back onto the original image: the one convention for undoing a letterbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from yoloforge.utils.boxes import RatioPad

from .instances import Sample, pack_segments, unpack_segments


def _shape(new_shape: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(new_shape, int):
        return new_shape, new_shape
    h, w = new_shape
    return int(h), int(w)


def letterbox(
    img: np.ndarray,
    new_shape: int | Sequence[int],
    *,
    auto: bool = False,
    scaleup: bool = True,
    stride: int = 32,
    center: bool = True,
    color: tuple[int, int, int] = (114, 114, 114),
) -> tuple[np.ndarray, RatioPad]:
    """Fit img (h, w, 3) into new_shape (h, w) and pad; returns (img, RatioPad((gain_h, gain_w), (pad_w, pad_h))).

    auto pads only up to a multiple of stride (minimal rectangle); scaleup=False never enlarges
    (validation keeps small images sharp); center=False pads only right and bottom.
    """
    h, w = img.shape[:2]
    nh, nw = _shape(new_shape)
    r = min(nh / h, nw / w)
    if not scaleup:
        r = min(r, 1.0)
    uw, uh = max(1, round(w * r)), max(1, round(h * r))
    dw, dh = max(nw - uw, 0), max(nh - uh, 0)
    if auto:
        dw, dh = dw % stride, dh % stride
    left, top = (dw // 2, dh // 2) if center else (0, 0)
    if (uw, uh) != (w, h):
        img = cv2.resize(img, (uw, uh), interpolation=cv2.INTER_LINEAR)
    if dw or dh:
        img = cv2.copyMakeBorder(img, top, dh - top, left, dw - left, cv2.BORDER_CONSTANT, value=color)
    return img, RatioPad((uh / h, uw / w), (float(left), float(top)))


def letterbox_sample(sample: Sample, new_shape: int | Sequence[int], **kw: Any) -> tuple[Sample, RatioPad]:
    """letterbox() applied to a sample's image, boxes and polygons."""
    img, ((rh, rw), (pw, ph)) = letterbox(sample["img"], new_shape, **kw)
    gain = np.array([rw, rh, rw, rh], np.float32)
    boxes = sample["bboxes"] * gain + np.array([pw, ph, pw, ph], np.float32)
    segs = sample["segments"]
    if len(segs) and len(segs) == len(boxes):
        pts, lengths = pack_segments(segs)
        segs = unpack_segments(pts * gain[:2] + np.array([pw, ph], np.float32), lengths)
    out = {**sample, "img": img, "bboxes": boxes.astype(np.float32, copy=False), "segments": segs}
    return out, RatioPad((rh, rw), (pw, ph))


class LetterBox:
    """Letterbox transform; a sample's "rect_shape" (h, w), set by rect batching, overrides new_shape.

    Adds "ratio_pad", a RatioPad relative to the sample's "ori_shape" (not the resized image it got), so
    `scale_boxes(boxes, img.shape[:2], sample["ori_shape"], ratio_pad=sample["ratio_pad"])` maps boxes back.
    """

    def __init__(
        self,
        new_shape: int | Sequence[int],
        *,
        auto: bool = False,
        scaleup: bool = True,
        stride: int = 32,
        center: bool = True,
        color: int = 114,
    ) -> None:
        self.new_shape = _shape(new_shape)
        self.kw = {"auto": auto, "scaleup": scaleup, "stride": stride, "center": center}
        self.kw["color"] = (color, color, color)

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        h, w = sample["img"].shape[:2]
        h0, w0 = sample.get("ori_shape") or (h, w)
        out, ((rh, rw), pad) = letterbox_sample(sample, sample.get("rect_shape", self.new_shape), **self.kw)
        out["ratio_pad"] = RatioPad((rh * h / h0, rw * w / w0), pad)
        return out
