"""Box helpers for the detection loss: format conversion, IoU / CIoU, and DFL distance targets.

All functions work on the last dimension (size 4) and broadcast over any leading dimensions.
"""

from __future__ import annotations

import math

import torch

from yoloforge.utils.boxes import xywh2xyxy

__all__ = ["bbox2dist", "bbox_iou", "xywh2xyxy"]


def _as_xyxy(boxes: torch.Tensor, xywh: bool) -> torch.Tensor:
    return xywh2xyxy(boxes) if xywh else boxes


def bbox_iou(
    box1: torch.Tensor, box2: torch.Tensor, xywh: bool = False, ciou: bool = False, eps: float = 1e-7
) -> torch.Tensor:
    """Elementwise IoU (or Complete IoU) of two broadcastable box tensors (..., 4) -> (...).

    CIoU (Zheng et al., 2020) = IoU - centre_dist^2 / enclosing_diag^2 - alpha * v, where
    v = 4 / pi^2 * (atan(w2 / h2) - atan(w1 / h1))^2 measures aspect-ratio mismatch and
    alpha = v / (1 - IoU + v) is its trade-off weight, treated as a constant (no gradient) as in
    the paper's reference implementation. It is 1 for identical boxes and can go below 0.
    """
    b1, b2 = _as_xyxy(box1, xywh), _as_xyxy(box2, xywh)
    b1x1, b1y1, b1x2, b1y2 = b1.unbind(-1)
    b2x1, b2y1, b2x2, b2y2 = b2.unbind(-1)
    w1, h1 = b1x2 - b1x1, (b1y2 - b1y1).clamp_min(eps)
    w2, h2 = b2x2 - b2x1, (b2y2 - b2y1).clamp_min(eps)
    inter_w = (torch.minimum(b1x2, b2x2) - torch.maximum(b1x1, b2x1)).clamp_min(0)
    inter_h = (torch.minimum(b1y2, b2y2) - torch.maximum(b1y1, b2y1)).clamp_min(0)
    inter = inter_w * inter_h
    iou = inter / (w1 * h1 + w2 * h2 - inter + eps)
    if not ciou:
        return iou
    enclose_w = torch.maximum(b1x2, b2x2) - torch.minimum(b1x1, b2x1)
    enclose_h = torch.maximum(b1y2, b2y2) - torch.minimum(b1y1, b2y1)
    diag2 = enclose_w**2 + enclose_h**2 + eps
    centre2 = ((b2x1 + b2x2 - b1x1 - b1x2) ** 2 + (b2y1 + b2y2 - b1y1 - b1y2) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (centre2 / diag2 + v * alpha)


def bbox2dist(anchors: torch.Tensor, bbox: torch.Tensor, reg_max: int) -> torch.Tensor:
    """xyxy boxes -> (left, top, right, bottom) distances from anchor points, in the same units.

    Clamped to [0, reg_max - 1 - 0.01] so each distance falls strictly between two DFL bins
    (the right-hand bin index floor(d) + 1 stays a valid class for the cross-entropy).
    """
    left_top = anchors - bbox[..., :2]
    right_bottom = bbox[..., 2:4] - anchors
    return torch.cat((left_top, right_bottom), -1).clamp(0, reg_max - 1 - 0.01)
