"""The YOLOv8 / YOLO11 training loss: classification BCE + CIoU box loss + distribution focal loss.

Normalisation (kept identical to Ultralytics so printed losses compare):

* targets come from `TaskAlignedAssigner`; `S = max(sum of all target scores in the batch, 1)`;
* cls = sum over all anchors and classes of BCE-with-logits(pred, target score) / S;
* box = sum over foreground anchors of (1 - CIoU(pred, target)) * w / S, where w is the anchor's
  target-score sum (its normalised alignment); boxes are compared in grid units (pixels / stride);
* dfl = sum over foreground anchors of w * mean over the 4 sides of the two-bin cross-entropy / S;
* each term is multiplied by its gain (box=7.5, cls=0.5, dfl=1.5 by default);
* returned: `(box + cls + dfl) * batch_size` for backward, and the detached vector
  `[box, cls, dfl]` (gains applied, not multiplied by batch size) for logging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from yoloforge.loss.assigner import TaskAlignedAssigner
from yoloforge.loss.boxes import bbox2dist, bbox_iou, xywh2xyxy
from yoloforge.nn.modules.heads import dist2bbox, make_anchors

if TYPE_CHECKING:
    from yoloforge.cfg.schema import RunConfig
    from yoloforge.nn.modules.heads import Detect


def _detect_head(model: nn.Module) -> Detect:
    """The Detect layer of a DetectionModel, also through a DataParallel / DDP wrapper."""
    model = getattr(model, "module", model)
    return model.head if hasattr(model, "head") else model.model[-1]


class DetectionLoss:
    """Loss for a `DetectionModel` in training mode; see the module docstring for the normalisation."""

    def __init__(
        self, model: nn.Module, box: float = 7.5, cls: float = 0.5, dfl: float = 1.5, tal_topk: int = 10
    ) -> None:
        head = _detect_head(model)
        self.nc: int = head.nc
        self.reg_max: int = head.reg_max
        self.no: int = head.no
        self.stride: torch.Tensor = head.stride.detach().clone()
        self.gains = (box, cls, dfl)
        self.assigner = TaskAlignedAssigner(topk=tal_topk, num_classes=self.nc, alpha=0.5, beta=6.0)
        self.bins = torch.arange(self.reg_max, dtype=torch.float, device=next(model.parameters()).device)

    @classmethod
    def from_config(cls, model: nn.Module, cfg: RunConfig | Any) -> DetectionLoss:
        """Build with the box / cls / dfl gains of a RunConfig (or any object with those attributes)."""
        return cls(model, box=cfg.box, cls=cfg.cls, dfl=cfg.dfl)

    def __call__(self, preds: list[torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (total loss for backward, detached [box, cls, dfl]) for raw head maps and a batch dict."""
        bsz = preds[0].shape[0]
        dev = preds[0].device
        flat = torch.cat([p.reshape(bsz, self.no, -1) for p in preds], 2).float()
        pred_distri, pred_logits = flat.split((4 * self.reg_max, self.nc), 1)
        pred_distri = pred_distri.permute(0, 2, 1).contiguous()  # (B, A, 4 * reg_max)
        pred_logits = pred_logits.permute(0, 2, 1).contiguous()  # (B, A, nc)
        stride = self.stride.to(dev)
        anchors, stride_col = make_anchors(preds, stride.tolist())  # grid units, (A, 2) and (A, 1)
        anchors, stride_col = anchors.float(), stride_col.float()
        imgsz = self._input_size(preds, batch, stride)
        gt_labels, gt_bboxes, mask_gt = pad_targets(batch, bsz, imgsz, dev)
        pred_bboxes = self._decode(anchors, pred_distri)  # xyxy, grid units
        target = self.assigner(
            pred_logits.detach().sigmoid(),
            pred_bboxes.detach() * stride_col,
            anchors * stride_col,
            gt_labels,
            gt_bboxes,
            mask_gt,
        )
        score_sum = target.scores.sum().clamp_min(1.0)
        loss_cls = F.binary_cross_entropy_with_logits(pred_logits, target.scores, reduction="sum") / score_sum
        loss_box = loss_dfl = pred_distri.sum() * 0.0  # keeps the graph connected when nothing is foreground
        if target.fg_mask.any():
            loss_box, loss_dfl = self._box_losses(
                pred_distri, pred_bboxes, anchors, target.bboxes / stride_col, target.scores, target.fg_mask, score_sum
            )
        loss = torch.stack((loss_box, loss_cls, loss_dfl)) * flat.new_tensor(self.gains)
        return loss.sum() * bsz, loss.detach()

    @staticmethod
    def _input_size(preds: list[torch.Tensor], batch: dict[str, torch.Tensor], stride: torch.Tensor) -> torch.Tensor:
        """(h, w) of the network input in pixels: from `batch["img"]` if given, else level 0 size x stride."""
        if "img" in batch:
            return torch.tensor(batch["img"].shape[2:], device=stride.device, dtype=torch.float)
        return torch.tensor(preds[0].shape[2:], device=stride.device, dtype=torch.float) * stride[0]

    def _decode(self, anchors: torch.Tensor, pred_distri: torch.Tensor) -> torch.Tensor:
        """DFL logits (B, A, 4 * reg_max) -> xyxy boxes around the anchors, in grid units."""
        b, a, _ = pred_distri.shape
        dist = pred_distri.view(b, a, 4, self.reg_max).softmax(3) @ self.bins.to(pred_distri.device)
        return dist2bbox(dist, anchors, xywh=False)

    def _box_losses(
        self,
        pred_distri: torch.Tensor,
        pred_bboxes: torch.Tensor,
        anchors: torch.Tensor,
        target_bboxes: torch.Tensor,
        target_scores: torch.Tensor,
        fg_mask: torch.Tensor,
        score_sum: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CIoU and DFL losses over foreground anchors, each weighted by target score / score_sum."""
        weight = target_scores.sum(-1)[fg_mask]  # (n,)
        ciou = bbox_iou(pred_bboxes[fg_mask], target_bboxes[fg_mask], ciou=True)
        loss_box = ((1.0 - ciou) * weight).sum() / score_sum
        target_ltrb = bbox2dist(anchors, target_bboxes, self.reg_max)[fg_mask]  # (n, 4)
        logits = pred_distri[fg_mask].view(-1, self.reg_max)
        loss_dfl = (distribution_focal_loss(logits, target_ltrb.view(-1)).view(-1, 4).mean(-1) * weight).sum()
        return loss_box, loss_dfl / score_sum


def distribution_focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DFL (Li et al., 2020): cross-entropy to the two integer bins around a continuous target.

    logits (n, reg_max); target (n,) in [0, reg_max - 1). The bin weights are linear: a target
    of 3.2 puts 0.8 on bin 3 and 0.2 on bin 4, so the expected value of the ideal
    distribution equals the target. Returns (n,).
    """
    left = target.long()
    right = left + 1
    w_left = right.float() - target
    w_right = 1.0 - w_left
    return (
        F.cross_entropy(logits, left, reduction="none") * w_left
        + F.cross_entropy(logits, right, reduction="none") * w_right
    )


def pad_targets(
    batch: dict[str, torch.Tensor], bsz: int, imgsz: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch dict -> per-image padded targets: labels (B, M), xyxy pixel boxes (B, M, 4), mask (B, M).

    `batch["bboxes"]` is normalised xywh; `imgsz` is (h, w) of the network input in pixels.
    Without Python loops: targets are sorted by image and each gets its rank within the image.
    """
    idx = batch["batch_idx"].to(device).view(-1).long()
    cls = batch["cls"].to(device).view(-1).float()
    boxes = batch["bboxes"].to(device).view(-1, 4).float()
    counts = torch.bincount(idx, minlength=bsz)
    m = int(counts.max()) if idx.numel() else 0
    labels = torch.zeros(bsz, m, device=device)
    gt = torch.zeros(bsz, m, 4, device=device)
    mask = torch.arange(m, device=device).unsqueeze(0) < counts.unsqueeze(1)
    if m:
        order = torch.sort(idx, stable=True).indices
        idx = idx[order]
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(idx.numel(), device=device) - starts[idx]
        scale = imgsz[[1, 0, 1, 0]]  # (w, h, w, h)
        labels[idx, slot] = cls[order]
        gt[idx, slot] = xywh2xyxy(boxes[order] * scale)
    return labels, gt, mask
