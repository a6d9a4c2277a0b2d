"""Training losses: task-aligned assignment, CIoU box loss, distribution focal loss, BCE classification."""

from yoloforge.loss.assigner import Assignment, TaskAlignedAssigner
from yoloforge.loss.boxes import bbox2dist, bbox_iou, xywh2xyxy
from yoloforge.loss.detection import DetectionLoss, distribution_focal_loss, pad_targets

__all__ = [
    "Assignment",
    "DetectionLoss",
    "TaskAlignedAssigner",
    "bbox2dist",
    "bbox_iou",
    "distribution_focal_loss",
    "pad_targets",
    "xywh2xyxy",
]
