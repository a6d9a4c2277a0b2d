"""Deciding which predictions of one image are true positives, at every IoU threshold.

Per IoU threshold t, independently, a prediction can only match a label of its class with IoU >= t, and a
label matches at most one prediction. Two rules:

* `"greedy"` (default): visit predictions by decreasing confidence (the order NMS returns them in); each takes
  the highest-IoU label still free (on equal IoU, the later label, as pycocotools does). This is COCO's rule
  (pycocotools), and it reproduces the P, R, mAP50 and mAP50-95 Ultralytics printed for the fixture
  checkpoint (P and R to 6 digits, mAP to 3e-5; tests/metrics/test_crosscheck.py).
* `"no_fallback"`: each prediction proposes its highest-IoU label; each label accepts its most confident
  proposer; a rejected prediction is a false positive even if another label was free. Some YOLO evaluators
  do this; on coco128 it gives mAP50 about 0.004 lower.

The two differ only where two predictions compete for one label, which after class-aware NMS at conf=0.001
happens mostly in crowded scenes.
"""

from __future__ import annotations

import numpy as np
import torch

from yoloforge.utils.boxes import to_numpy

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def _no_fallback(iou: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(n_pred, t) bool by the "no_fallback" rule; iou is (n_pred, n_true), other-class pairs set to -1."""
    n_pred, n_true = iou.shape
    eligible = iou[None] >= thresholds[:, None, None]  # (t, pred, true)
    best = np.where(eligible, iou[None], -1.0).argmax(2)  # (t, pred): first label of highest IoU
    proposes = np.take_along_axis(eligible, best[..., None], 2)[..., 0]
    ti, pi = np.nonzero(proposes)  # row-major: thresholds outer, predictions ascending inner
    _, first = np.unique(ti * n_true + best[ti, pi], return_index=True)  # most confident proposer per label
    correct = np.zeros((len(thresholds), n_pred), dtype=bool)
    correct[ti[first], pi[first]] = True
    return correct.T


def _greedy(iou: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(n_pred, t) bool by the "greedy" rule, all thresholds at once; iou as in _no_fallback."""
    correct = np.zeros((iou.shape[0], len(thresholds)), dtype=bool)
    taken = np.zeros((len(thresholds), iou.shape[1]), dtype=bool)
    t_idx = np.arange(len(thresholds))
    last = iou.shape[1] - 1
    for i in np.flatnonzero((iou >= thresholds.min()).any(1)):  # others match nothing and take nothing
        free = (iou[i][None] >= thresholds[:, None]) & ~taken  # (t, true)
        best = last - np.where(free, iou[i][None], -1.0)[:, ::-1].argmax(1)  # last label of highest IoU
        ok = free[t_idx, best]
        correct[i] = ok
        taken[t_idx[ok], best[ok]] = True
    return correct


def match_predictions(
    pred_classes: np.ndarray | torch.Tensor,
    true_classes: np.ndarray | torch.Tensor,
    iou_matrix: np.ndarray | torch.Tensor,
    iou_thresholds: np.ndarray = IOU_THRESHOLDS,
    rule: str = "greedy",
) -> np.ndarray:
    """(n_pred, len(iou_thresholds)) bool: prediction i is a true positive at threshold j (module docstring).

    iou_matrix is (n_pred, n_true), i.e. box_iou(pred_boxes, true_boxes); predictions sorted by decreasing
    confidence. Only same-class pairs with IoU >= threshold can match.
    """
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    pc, tc, iou = to_numpy(pred_classes), to_numpy(true_classes), to_numpy(iou_matrix).astype(np.float64)
    if iou.shape != (len(pc), len(tc)):
        raise ValueError(f"iou_matrix shape {iou.shape} != (n_pred, n_true) = ({len(pc)}, {len(tc)})")
    if iou.size == 0:
        return np.zeros((len(pc), len(thresholds)), dtype=bool)
    iou = np.where(pc[:, None] == tc[None, :], iou, -1.0)  # other-class pairs are never eligible
    if rule == "greedy":
        return _greedy(iou, thresholds)
    if rule == "no_fallback":
        return _no_fallback(iou, thresholds)
    raise ValueError(f"rule={rule!r}: expected 'greedy' or 'no_fallback'")
