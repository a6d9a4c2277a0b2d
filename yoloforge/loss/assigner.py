"""Task-aligned label assignment (TOOD, Feng et al., 2021) for anchor-free detection heads.

Each ground truth picks the anchors that both classify it well and localise it well:
metric = score^alpha * IoU^beta, where score is the predicted probability of the GT's class
and IoU is between the anchor's predicted box and the GT. Everything is batched: the GTs of
each image are padded to the largest count in the batch and a mask marks the real ones.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from yoloforge.loss.boxes import bbox_iou


class Assignment(NamedTuple):
    """Per-anchor training targets; B images, A anchors, C classes."""

    labels: torch.Tensor  # (B, A) long, class of the assigned GT (0 for background)
    bboxes: torch.Tensor  # (B, A, 4) xyxy of the assigned GT, same units as the input GT boxes
    scores: torch.Tensor  # (B, A, C) one-hot class scaled by the normalised alignment, 0 for background
    fg_mask: torch.Tensor  # (B, A) bool, anchor is assigned to some GT
    gt_idx: torch.Tensor  # (B, A) long, index of the assigned GT in the padded GT list (0 for background)


class TaskAlignedAssigner(nn.Module):
    """Assigns ground truths to anchors by the task-alignment metric; holds no parameters.

    `max_elements` bounds B * M * A (images x padded GTs x anchors) handled at once: larger
    batches are split into image chunks, and a CUDA out-of-memory error retries on the CPU.
    """

    def __init__(
        self,
        topk: int = 10,
        num_classes: int = 80,
        alpha: float = 0.5,
        beta: float = 6.0,
        eps: float = 1e-9,
        max_elements: int = 1 << 26,
    ) -> None:
        super().__init__()
        self.topk = topk
        self.num_classes = num_classes
        self.alpha = alpha
        self.beta = beta
        self.eps = eps
        self.max_elements = max_elements

    @torch.no_grad()
    def forward(
        self,
        pd_scores: torch.Tensor,
        pd_bboxes: torch.Tensor,
        anc_points: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_bboxes: torch.Tensor,
        mask_gt: torch.Tensor,
    ) -> Assignment:
        """Assign targets.

        pd_scores (B, A, C) class probabilities (after sigmoid); pd_bboxes (B, A, 4) predicted
        xyxy boxes; anc_points (A, 2) anchor centres, in the same units as the boxes;
        gt_labels (B, M) or (B, M, 1); gt_bboxes (B, M, 4) xyxy; mask_gt (B, M) or (B, M, 1),
        true for real (not padding) GTs.
        """
        b, a = pd_scores.shape[:2]
        gt_labels = gt_labels.reshape(b, -1).long()
        mask_gt = mask_gt.reshape(b, -1).bool()
        if gt_bboxes.shape[1] == 0 or not mask_gt.any():
            return self._background(pd_scores, gt_bboxes)
        per_image = gt_bboxes.shape[1] * a
        step = max(1, self.max_elements // per_image)
        if step >= b:
            return self._assign_safe(pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt)
        parts = [
            self._assign_safe(*(t[i : i + step] for t in (pd_scores, pd_bboxes)), anc_points,
                              *(t[i : i + step] for t in (gt_labels, gt_bboxes, mask_gt)))
            for i in range(0, b, step)
        ]  # fmt: skip
        return Assignment(*(torch.cat(field, 0) for field in zip(*parts, strict=True)))

    def _assign_safe(self, *args: torch.Tensor) -> Assignment:
        """Run `_assign`; if the GPU runs out of memory, redo it on the CPU and move the result back."""
        try:
            return self._assign(*args)
        except torch.cuda.OutOfMemoryError:
            device = args[0].device
            torch.cuda.empty_cache()
            result = self._assign(*(t.cpu() for t in args))
            return Assignment(*(t.to(device) for t in result))

    def _background(self, pd_scores: torch.Tensor, gt_bboxes: torch.Tensor) -> Assignment:
        """Targets for a batch without any ground truth: every anchor is background."""
        b, a, c = pd_scores.shape
        dev = pd_scores.device
        zeros_long = torch.zeros(b, a, dtype=torch.long, device=dev)
        return Assignment(
            labels=zeros_long,
            bboxes=torch.zeros(b, a, 4, dtype=gt_bboxes.dtype, device=dev),
            scores=torch.zeros(b, a, c, dtype=pd_scores.dtype, device=dev),
            fg_mask=torch.zeros(b, a, dtype=torch.bool, device=dev),
            gt_idx=zeros_long.clone(),
        )

    def _assign(
        self,
        pd_scores: torch.Tensor,
        pd_bboxes: torch.Tensor,
        anc_points: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_bboxes: torch.Tensor,
        mask_gt: torch.Tensor,
    ) -> Assignment:
        """The assignment proper for one chunk of images (shapes as in `forward`, labels (B, M))."""
        gt_labels = gt_labels.clamp(0, self.num_classes - 1)
        candidates = anchors_in_boxes(anc_points, gt_bboxes) & mask_gt.unsqueeze(-1)  # (B, M, A)
        metric, overlaps = self._alignment(pd_scores, pd_bboxes, gt_labels, gt_bboxes, candidates)
        mask_pos = self._topk_mask(metric, candidates) & candidates
        mask_pos = _keep_highest_iou(mask_pos, overlaps)
        fg_mask = mask_pos.any(1)  # (B, A)
        gt_idx = mask_pos.to(torch.uint8).argmax(1)  # (B, A); 0 where background
        labels = gt_labels.gather(1, gt_idx)
        bboxes = gt_bboxes.gather(1, gt_idx.unsqueeze(-1).expand(-1, -1, 4))
        scores = nn.functional.one_hot(labels, self.num_classes).to(pd_scores.dtype)
        scores = scores * self._normalised_alignment(metric, overlaps, mask_pos).unsqueeze(-1)
        labels = labels * fg_mask
        return Assignment(labels, bboxes * fg_mask.unsqueeze(-1), scores, fg_mask, gt_idx * fg_mask)

    def _alignment(
        self,
        pd_scores: torch.Tensor,
        pd_bboxes: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_bboxes: torch.Tensor,
        candidates: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Alignment metric and predicted-box IoU for every (GT, anchor) pair, zero off the candidates."""
        a = pd_scores.shape[1]
        class_scores = pd_scores.transpose(1, 2).gather(1, gt_labels.unsqueeze(-1).expand(-1, -1, a))  # (B, M, A)
        overlaps = bbox_iou(gt_bboxes.unsqueeze(2), pd_bboxes.unsqueeze(1)).clamp_min(0)  # (B, M, A)
        overlaps = overlaps.to(pd_scores.dtype) * candidates
        metric = class_scores.pow(self.alpha) * overlaps.pow(self.beta) * candidates
        return metric, overlaps

    def _topk_mask(self, metric: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """(B, M, A) mask of each GT's k highest-metric candidate anchors.

        Non-candidates are ranked below every candidate, so a GT with fewer than k candidates
        takes all of them and nothing else (the caller also ANDs with `candidates`).
        """
        k = min(self.topk, metric.shape[-1])
        ranked = metric.masked_fill(~candidates, -1.0)
        top_idx = ranked.topk(k, dim=-1).indices  # (B, M, k)
        mask = torch.zeros_like(candidates)
        return mask.scatter_(-1, top_idx, True)

    def _normalised_alignment(
        self, metric: torch.Tensor, overlaps: torch.Tensor, mask_pos: torch.Tensor
    ) -> torch.Tensor:
        """(B, A) soft target strength: metric / (GT's max metric) * (GT's max IoU), over its positives."""
        metric = metric * mask_pos
        max_metric = metric.amax(-1, keepdim=True)  # (B, M, 1)
        max_iou = (overlaps * mask_pos).amax(-1, keepdim=True)
        return (metric * max_iou / (max_metric + self.eps)).amax(1)


def anchors_in_boxes(anc_points: torch.Tensor, gt_bboxes: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """(B, M, A) bool: anchor centre strictly inside the GT box (by more than eps on every side)."""
    lt = anc_points.view(1, 1, -1, 2) - gt_bboxes[..., None, :2]
    rb = gt_bboxes[..., None, 2:] - anc_points.view(1, 1, -1, 2)
    return torch.cat((lt, rb), -1).amin(-1) > eps


def _keep_highest_iou(mask_pos: torch.Tensor, overlaps: torch.Tensor) -> torch.Tensor:
    """Where an anchor is positive for several GTs, keep only the GT with the highest IoU among them."""
    multi = mask_pos.sum(1, keepdim=True) > 1  # (B, 1, A)
    if not multi.any():
        return mask_pos
    best = overlaps.masked_fill(~mask_pos, -1.0).argmax(1, keepdim=True)  # (B, 1, A)
    best_mask = torch.zeros_like(mask_pos).scatter_(1, best, True)
    return torch.where(multi, best_mask, mask_pos)
