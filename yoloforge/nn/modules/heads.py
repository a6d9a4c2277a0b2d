"""Anchor-free detection head with Distribution Focal Loss box regression.

Each level predicts, per pixel, 4 * reg_max distance logits (left, top, right, bottom) and nc
class logits. At inference the distances are turned into xywh boxes around the pixel centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from yoloforge.nn.modules.blocks import DFL
from yoloforge.nn.modules.conv import Conv, DWConv


def make_anchors(
    feats: Sequence[torch.Tensor], strides: Sequence[float], offset: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre anchor points (in grid units) and their strides for every level, concatenated.

    Returns points (A, 2) as (x, y) and strides (A, 1), ordered level by level, row-major.
    """
    points, stride_cols = [], []
    for feat, stride in zip(feats, strides, strict=True):
        h, w = feat.shape[2:]
        kw = {"device": feat.device, "dtype": feat.dtype}
        xs = torch.arange(w, **kw) + offset
        ys = torch.arange(h, **kw) + offset
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((grid_x, grid_y), -1).view(-1, 2))
        stride_cols.append(torch.full((h * w, 1), float(stride), **kw))
    return torch.cat(points), torch.cat(stride_cols)


def dist2bbox(distance: torch.Tensor, anchors: torch.Tensor, xywh: bool = True, dim: int = -1) -> torch.Tensor:
    """Convert (left, top, right, bottom) distances from anchor points into xywh or xyxy boxes."""
    lt, rb = distance.chunk(2, dim)
    top_left = anchors - lt
    bottom_right = anchors + rb
    if xywh:
        return torch.cat(((top_left + bottom_right) / 2, bottom_right - top_left), dim)
    return torch.cat((top_left, bottom_right), dim)


class Detect(nn.Module):
    """Decoupled box / class head over several pyramid levels.

    `dw_cls=True` builds YOLO11's lighter class branch (depthwise 3x3 then pointwise 1x1, twice);
    `dw_cls=False` builds YOLOv8's two plain 3x3 convolutions. Box branches are the same in both.
    `stride` is filled in by the model after a probe forward pass.
    """

    def __init__(self, nc: int = 80, ch: Sequence[int] = (), dw_cls: bool = True, reg_max: int = 16) -> None:
        super().__init__()
        if not ch:
            raise ValueError("Detect needs the channel count of each input level")
        self.nc = nc
        self.nl = len(ch)
        self.reg_max = reg_max
        self.no = nc + 4 * reg_max
        self.register_buffer("stride", torch.zeros(self.nl), persistent=False)
        box_width = max(16, ch[0] // 4, 4 * reg_max)
        cls_width = max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(self._box_branch(c, box_width) for c in ch)
        self.cv3 = nn.ModuleList(self._cls_branch(c, cls_width, dw_cls) for c in ch)
        self.dfl = DFL(reg_max) if reg_max > 1 else nn.Identity()

    def _box_branch(self, c: int, width: int) -> nn.Sequential:
        return nn.Sequential(Conv(c, width, 3), Conv(width, width, 3), nn.Conv2d(width, 4 * self.reg_max, 1))

    def _cls_branch(self, c: int, width: int, dw_cls: bool) -> nn.Sequential:
        if not dw_cls:
            return nn.Sequential(Conv(c, width, 3), Conv(width, width, 3), nn.Conv2d(width, self.nc, 1))
        return nn.Sequential(
            nn.Sequential(DWConv(c, c, 3), Conv(c, width, 1)),
            nn.Sequential(DWConv(width, width, 3), Conv(width, width, 1)),
            nn.Conv2d(width, self.nc, 1),
        )

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor] | torch.Tensor:
        """Training: per-level raw maps (B, no, H, W). Eval: decoded (B, 4 + nc, anchors)."""
        raw = self.raw(xs)
        if self.training:
            return raw
        return self.decode(raw)

    def raw(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per-level raw maps (B, 4*reg_max + nc, H, W), whatever the mode: what the loss reads."""
        return [torch.cat((box(x), cls(x)), 1) for x, box, cls in zip(xs, self.cv2, self.cv3, strict=True)]

    def decode(self, raw: list[torch.Tensor]) -> torch.Tensor:
        """Turn raw level maps into xywh boxes in input pixels followed by sigmoid class scores."""
        b = raw[0].shape[0]
        flat = torch.cat([r.view(b, self.no, -1) for r in raw], 2)
        box_logits, cls_logits = flat.split((4 * self.reg_max, self.nc), 1)
        anchors, strides = make_anchors(raw, self.stride.tolist())
        boxes = dist2bbox(self.dfl(box_logits), anchors.t().unsqueeze(0), xywh=True, dim=1)
        return torch.cat((boxes * strides.t(), cls_logits.sigmoid()), 1)

    @torch.no_grad()
    def bias_init(self, imgsz: int = 640) -> None:
        """Start box logits at 1 and class logits at a low prior (~5 objects per 640 image).

        Needs `stride` to be set. A sensible prior keeps early classification loss from exploding.
        """
        for box, cls, s in zip(self.cv2, self.cv3, self.stride.tolist(), strict=True):
            box[-1].bias.fill_(1.0)
            cls[-1].bias[: self.nc] = math.log(5 / self.nc / (imgsz / s) ** 2)
