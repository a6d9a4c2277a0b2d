"""Box format conversions, pairwise IoU and the letterbox inverse, for torch tensors and numpy arrays.

Formats: `xyxy` = corners (x1, y1, x2, y2); `xywh` = centre and size; a trailing `n` means normalised by the
image width and height. Every function works on the last axis and returns a new array/tensor of the input's
kind (torch in, torch out; numpy in, numpy out); nothing is modified in place unless the name says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", torch.Tensor, np.ndarray)
Shape = Sequence[int]  # (h, w, ...) as in img.shape

_EPS = 1e-7


def to_numpy(x: torch.Tensor | np.ndarray | Sequence) -> np.ndarray:
    """A numpy array of `x`: torch tensors (any device, grad or not) are detached and copied to the CPU."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _empty_like(x: Array) -> Array:
    if isinstance(x, torch.Tensor):
        return torch.empty_like(x, dtype=x.dtype if x.is_floating_point() else torch.float32)
    return np.empty_like(x, dtype=x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)


def _check(x: Array) -> None:
    if x.shape[-1] != 4:
        raise ValueError(f"boxes must have 4 values on the last axis, got shape {tuple(x.shape)}")


def xywh2xyxy(x: Array) -> Array:
    """Centre/size -> corners."""
    _check(x)
    y = _empty_like(x)
    half_w, half_h = x[..., 2] / 2, x[..., 3] / 2
    y[..., 0], y[..., 1] = x[..., 0] - half_w, x[..., 1] - half_h
    y[..., 2], y[..., 3] = x[..., 0] + half_w, x[..., 1] + half_h
    return y


def xyxy2xywh(x: Array) -> Array:
    """Corners -> centre/size."""
    _check(x)
    y = _empty_like(x)
    y[..., 0], y[..., 1] = (x[..., 0] + x[..., 2]) / 2, (x[..., 1] + x[..., 3]) / 2
    y[..., 2], y[..., 3] = x[..., 2] - x[..., 0], x[..., 3] - x[..., 1]
    return y


def xywhn2xyxy(x: Array, w: float, h: float, padw: float = 0.0, padh: float = 0.0) -> Array:
    """Normalised centre/size (YOLO label rows) -> pixel corners, optionally shifted by a padding."""
    y = xywh2xyxy(x)
    y[..., 0], y[..., 2] = y[..., 0] * w + padw, y[..., 2] * w + padw
    y[..., 1], y[..., 3] = y[..., 1] * h + padh, y[..., 3] * h + padh
    return y


def xyxy2xywhn(x: Array, w: float, h: float, clip: bool = False) -> Array:
    """Pixel corners -> normalised centre/size; `clip` first clips the corners to the image."""
    if clip:
        x = clip_boxes(x, (h, w))
    y = xyxy2xywh(x)
    y[..., 0], y[..., 2] = y[..., 0] / w, y[..., 2] / w
    y[..., 1], y[..., 3] = y[..., 1] / h, y[..., 3] / h
    return y


def box_area(b: Array) -> Array:
    """Area of xyxy boxes (0 for inverted ones)."""
    if isinstance(b, torch.Tensor):
        return (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def box_iou(a: Array, b: Array, eps: float = _EPS) -> Array:
    """Pairwise IoU of xyxy boxes: (N, 4) x (M, 4) -> (N, M).

    `eps` in the denominator keeps degenerate (zero-area) pairs at 0 instead of NaN; it moves ordinary IoUs by
    less than 1e-7 relative, far below any threshold that matters.
    """
    if isinstance(a, torch.Tensor):
        lt = torch.maximum(a[:, None, :2], b[None, :, :2])
        rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
        inter = (rb - lt).clamp(min=0).prod(-1)
    else:
        lt = np.maximum(a[:, None, :2], b[None, :, :2])
        rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
        inter = np.clip(rb - lt, 0, None).prod(-1)
    return inter / (box_area(a)[:, None] + box_area(b)[None, :] - inter + eps)


def clip_boxes(boxes: Array, shape: Shape) -> Array:
    """Clip xyxy boxes to an image of shape (h, w, ...); returns a copy."""
    h, w = shape[0], shape[1]
    if isinstance(boxes, torch.Tensor):
        out = boxes.clone()
        out[..., 0::2] = out[..., 0::2].clamp(0, w)
        out[..., 1::2] = out[..., 1::2].clamp(0, h)
        return out
    out = boxes.copy()
    out[..., 0::2] = out[..., 0::2].clip(0, w)
    out[..., 1::2] = out[..., 1::2].clip(0, h)
    return out


class RatioPad(NamedTuple):
    """Where a letterbox put an image: the one convention every letterbox writes and `scale_boxes` reads.

    `gain` = (gain_h, gain_w): letterboxed size / original size per axis (the resize rounds to whole pixels,
    so the two can differ slightly); `pad` = (pad_w, pad_h): pixels added on the left and on the top. It is
    Ultralytics' `ratio_pad` layout (gains h-first, padding x-first), so validator numbers stay comparable.
    """

    gain: tuple[float, float]
    pad: tuple[float, float]


def letterbox_params(from_shape: Shape, to_shape: Shape) -> RatioPad:
    """The RatioPad of a centred letterbox that shrank `to_shape` (original, h/w) into `from_shape` (h/w).

    One gain for both axes; the padding is rounded the way a letterbox that splits an odd padding as
    (floor, ceil) places the image. For when the loader's exact RatioPad was not kept.
    """
    gain = min(from_shape[0] / to_shape[0], from_shape[1] / to_shape[1])
    pad_w = round((from_shape[1] - to_shape[1] * gain) / 2 - 0.1)
    pad_h = round((from_shape[0] - to_shape[0] * gain) / 2 - 0.1)
    return RatioPad((gain, gain), (pad_w, pad_h))


def scale_boxes(
    boxes: Array,
    from_shape: Shape,
    to_shape: Shape,
    ratio_pad: RatioPad | tuple[float | Sequence[float], Sequence[float]] | None = None,
    clip: bool = True,
) -> Array:
    """Undo a letterbox: map xyxy boxes (..., 4) in the letterboxed input (`from_shape`, h/w) to the original
    image (`to_shape`, h/w). The one inverse used everywhere (validator, predictor, tests).

    x_orig = (x - pad_w) / gain_w and y_orig = (y - pad_h) / gain_h, with `ratio_pad` = RatioPad((gain_h,
    gain_w), (pad_w, pad_h)) as the letterbox returned it (recommended: it knows the rounding); a scalar gain
    is used for both axes; without `ratio_pad` a centred letterbox is assumed (`letterbox_params`). Returns a
    float copy of the input's kind (..., 4), clipped to `to_shape` unless `clip=False`: Ultralytics'
    validator matches *unclipped* predictions, so metrics that must reproduce its numbers use clip=False.
    """
    gain, pad = letterbox_params(from_shape, to_shape) if ratio_pad is None else ratio_pad
    gain_h, gain_w = (gain, gain) if np.isscalar(gain) else (gain[0], gain[1])
    if isinstance(boxes, torch.Tensor):
        out = boxes.clone() if boxes.is_floating_point() else boxes.float()
    else:
        out = boxes.astype(boxes.dtype if np.issubdtype(boxes.dtype, np.floating) else np.float64)
    out[..., 0::2] = (out[..., 0::2] - pad[0]) / gain_w
    out[..., 1::2] = (out[..., 1::2] - pad[1]) / gain_h
    return clip_boxes(out, to_shape) if clip else out
