"""Detection confusion matrix: which class each label was detected as, background included.

Layout: `matrix[predicted, true]`, (nc + 1) x (nc + 1); index nc is "background". Per image, predictions with
conf > `conf` are matched to labels class-agnostically, one to one, by IoU > `iou_thres` (each prediction
proposes its highest-IoU label, then each label keeps its highest-IoU proposer). A matched label adds 1 at
[predicted class, true class] (the diagonal when the class is right); an unmatched label adds 1 at
[background, true class] (missed); an unmatched prediction adds 1 at [predicted class, background] (false alarm).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from yoloforge.utils.boxes import box_iou, to_numpy


def split_labels(labels: np.ndarray | torch.Tensor | tuple) -> tuple[np.ndarray, np.ndarray]:
    """(classes (m,) int, boxes (m, 4) float64 xyxy) from (m, 5) [cls, x1, y1, x2, y2] rows or a (cls, boxes) pair."""
    if isinstance(labels, (tuple, list)):
        cls, boxes = to_numpy(labels[0]).reshape(-1), to_numpy(labels[1]).reshape(-1, 4)
    else:
        arr = to_numpy(labels).reshape(-1, 5)
        cls, boxes = arr[:, 0], arr[:, 1:]
    return cls.astype(np.int64), boxes.astype(np.float64)


def _match(iou: np.ndarray, thr: float) -> np.ndarray:
    """(k, 2) [pred, true] one-to-one pairs with IoU > thr, highest IoU first."""
    p, t = np.nonzero(iou > thr)
    if len(p) <= 1:
        return np.stack((p, t), 1)
    order = np.argsort(-iou[p, t], kind="stable")
    p, t = p[order], t[order]
    _, first = np.unique(p, return_index=True)  # each prediction: its best label
    first.sort()  # back to decreasing IoU
    p, t = p[first], t[first]
    _, first = np.unique(t, return_index=True)  # each label: its best proposer
    return np.stack((p[first], t[first]), 1)


class ConfusionMatrix:
    """Accumulates matrix[predicted, true] over images (module docstring)."""

    def __init__(self, nc: int, conf: float = 0.25, iou_thres: float = 0.45, names: Sequence[str] | None = None):
        self.nc, self.conf, self.iou_thres = nc, conf, iou_thres
        self.names = list(names) if names is not None else [str(i) for i in range(nc)]
        self.matrix = np.zeros((nc + 1, nc + 1), dtype=np.int64)

    def update(self, detections: np.ndarray | torch.Tensor | None, labels: np.ndarray | torch.Tensor | tuple) -> None:
        """Add one image: detections (n, 6) [x1, y1, x2, y2, conf, cls], labels as in split_labels (same pixels)."""
        true_cls, true_boxes = split_labels(labels)
        det = np.zeros((0, 6)) if detections is None else to_numpy(detections).reshape(-1, 6).astype(np.float64)
        det = det[det[:, 4] > self.conf]
        det_cls = det[:, 5].astype(np.int64)
        pairs = _match(box_iou(det[:, :4], true_boxes), self.iou_thres) if len(det) and len(true_cls) else None
        pairs = np.zeros((0, 2), dtype=np.int64) if pairs is None else pairs
        np.add.at(self.matrix, (det_cls[pairs[:, 0]], true_cls[pairs[:, 1]]), 1)
        missed = np.setdiff1d(np.arange(len(true_cls)), pairs[:, 1])
        np.add.at(self.matrix, (self.nc, true_cls[missed]), 1)
        extra = np.setdiff1d(np.arange(len(det)), pairs[:, 0])
        np.add.at(self.matrix, (det_cls[extra], self.nc), 1)

    def reset(self) -> None:
        self.matrix[:] = 0
