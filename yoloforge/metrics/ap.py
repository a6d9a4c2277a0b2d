"""Average precision per class, precision/recall/F1 curves and the operating point that is reported.

Definitions (with metrics.match's default rule these reproduce the P, R, mAP50 and mAP50-95 Ultralytics
printed for the fixture checkpoint, P and R to 6 digits and mAP to 3e-5; tests/metrics/test_crosscheck.py):

* Predictions of all images are pooled and sorted by decreasing confidence; per class, cumulative TP/FP give
  recall = TP / n_labels and precision = TP / (TP + FP) at every prediction.
* AP (`method="interp"`, the default): pad the curve with (recall 0, precision 1) in front and
  (last recall + 0.01, precision 0) at the end, take the precision envelope (precision at recall r = the best
  precision at recall >= r), sample it at the 101 recalls 0, 0.01, ..., 1 by *linear interpolation* (0 beyond
  the end point) and integrate the samples with the trapezoidal rule.
  pycocotools (`method="coco"`) reads the envelope as a step function instead (precision of the first point
  whose recall >= r, 0 where r is never reached) and *averages* the 101 samples. Same curve, different
  quadrature (trapezoid weights over [0, 1] vs a plain mean of 101 samples; linear vs step reads): "interp"
  comes out lower, by 0.0013 mAP50-95 and 0.0022 mAP50 for the fixture checkpoint on coco128 (conf=0.001).
  `method="continuous"` is the exact area under the envelope (VOC 2010+ style).
* P and R reported for a class are read off its precision and recall curves (sampled on a 1000-point
  confidence grid) at one confidence shared by all classes: the one that maximises the class-mean F1 curve
  after smoothing it with a box filter spanning 10% of the grid (101 points, ends padded with the end values),
  as Ultralytics does.
* Classes are those with at least one label; a class with labels but no predictions has AP 0 and counts in the
  mean. Predictions of classes without labels are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_GRID = 1000  # points of the confidence / recall grid of the curves
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


def smooth(y: np.ndarray, fraction: float = 0.05) -> np.ndarray:
    """Box-filter `y` over an odd window of about 2 * fraction * len(y) points, padding ends with end values.

    NaNs are skipped (each output is the mean of the finite values in its window; NaN if there are none).
    """
    y = np.asarray(y, dtype=float)
    width = round(len(y) * fraction * 2) // 2 + 1
    if len(y) == 0 or width <= 1:
        return y.copy()
    pad = np.ones(width // 2)
    padded = np.concatenate((pad * y[0], y, pad * y[-1]))
    finite = np.isfinite(padded)
    if finite.all():  # Ultralytics' exact arithmetic, so the argmax it picks is reproduced bit for bit
        return np.convolve(padded, np.ones(width) / width, mode="valid")
    num = np.convolve(np.where(finite, padded, 0.0), np.ones(width), mode="valid")
    den = np.convolve(finite.astype(float), np.ones(width), mode="valid")
    return np.divide(num, den, out=np.full(len(y), np.nan), where=den > 0)


def compute_ap(
    recall: np.ndarray, precision: np.ndarray, method: str = "interp"
) -> tuple[float, np.ndarray, np.ndarray]:
    """(AP, envelope precision, recall) of one PR curve given in decreasing-confidence order (module docstring)."""
    if method == "coco":
        env = np.maximum.accumulate(precision[::-1])[::-1]
        at = np.searchsorted(recall, np.linspace(0, 1, 101), side="left")
        q = np.where(at < len(env), env[np.minimum(at, len(env) - 1)], 0.0) if len(env) else np.zeros(101)
        return float(q.mean()), env, recall
    mrec = np.concatenate(([0.0], recall, [recall[-1] + 0.01]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    if method == "interp":
        x = np.linspace(0, 1, 101)
        return float(_trapezoid(np.interp(x, mrec, mpre), x)), mpre, mrec
    if method == "continuous":
        step = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1])), mpre, mrec
    raise ValueError(f"method={method!r}: expected 'interp', 'coco' or 'continuous'")


@dataclass
class APResult:
    """Everything ap_per_class finds; rows follow `classes` (the class ids that have labels)."""

    classes: np.ndarray  # (k,) int class ids
    tp: np.ndarray  # (k,) TP at the chosen confidence (recall * labels, rounded)
    fp: np.ndarray  # (k,) FP at the chosen confidence
    p: np.ndarray  # (k,) precision at the chosen confidence
    r: np.ndarray  # (k,) recall at the chosen confidence
    f1: np.ndarray  # (k,)
    ap: np.ndarray  # (k, n_iou) AP per IoU threshold
    conf_threshold: float = 0.0  # the confidence that maximises the smoothed mean F1
    px: np.ndarray = field(default_factory=lambda: np.linspace(0, 1, _GRID))  # x of every curve below
    p_curve: np.ndarray = field(default_factory=lambda: np.zeros((0, _GRID)))  # precision vs confidence
    r_curve: np.ndarray = field(default_factory=lambda: np.zeros((0, _GRID)))  # recall vs confidence
    f1_curve: np.ndarray = field(default_factory=lambda: np.zeros((0, _GRID)))  # F1 vs confidence
    pr_curve: np.ndarray = field(default_factory=lambda: np.zeros((0, _GRID)))  # envelope precision vs recall (IoU 0.5)


def _class_curves(tp: np.ndarray, conf: np.ndarray, n_labels: int, px: np.ndarray, method: str) -> tuple:
    """AP per threshold, P and R vs confidence, and the PR envelope at the first threshold, for one class."""
    tpc = tp.cumsum(0)
    fpc = (1 - tp).cumsum(0)
    recall = tpc / (n_labels + 1e-16)
    precision = tpc / (tpc + fpc)
    # conf is decreasing, np.interp wants increasing x: negate both. Above the top conf: P=1, R=0.
    r_at = np.interp(-px, -conf, recall[:, 0], left=0)
    p_at = np.interp(-px, -conf, precision[:, 0], left=1)
    ap = np.zeros(tp.shape[1])
    pr = np.zeros_like(px)
    for j in range(tp.shape[1]):
        ap[j], env, rec = compute_ap(recall[:, j], precision[:, j], method)
        if j == 0:
            pr = np.interp(px, rec, env)
    return ap, p_at, r_at, pr


def ap_per_class(
    tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray, method: str = "interp"
) -> APResult:
    """Per-class AP at every IoU threshold, P/R/F1 curves and the reported P, R (module docstring).

    tp: (n, t) bool, prediction i is a true positive at IoU threshold j; conf, pred_cls: (n,); target_cls: (m,)
    class of every label. Returns an APResult whose rows follow the sorted classes present in target_cls.
    """
    tp = np.asarray(tp, dtype=np.float64)
    tp = tp[:, None] if tp.ndim == 1 else tp
    order = np.argsort(-np.asarray(conf), kind="stable")
    tp, conf, pred_cls = tp[order], np.asarray(conf, dtype=np.float64)[order], np.asarray(pred_cls)[order]
    classes, n_labels = np.unique(np.asarray(target_cls).astype(int), return_counts=True)
    k, px = len(classes), np.linspace(0, 1, _GRID)
    ap, p_curve, r_curve, pr_curve = np.zeros((k, tp.shape[1])), np.zeros((k, _GRID)), np.zeros((k, _GRID)), []
    for ci, c in enumerate(classes):
        mine = pred_cls == c
        if not mine.any():
            pr_curve.append(np.zeros(_GRID))
            continue
        ap[ci], p_curve[ci], r_curve[ci], pr = _class_curves(tp[mine], conf[mine], n_labels[ci], px, method)
        pr_curve.append(pr)
    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve + 1e-16)
    best = int(smooth(f1_curve.mean(0), 0.1).argmax()) if k else 0
    p, r, f1 = p_curve[:, best], r_curve[:, best], f1_curve[:, best]
    tp_best = (r * n_labels).round()
    fp_best = (tp_best / (p + 1e-16) - tp_best).round()
    return APResult(
        classes, tp_best, fp_best, p, r, f1, ap, float(px[best]), px, p_curve, r_curve, f1_curve,
        np.array(pr_curve).reshape(k, _GRID),
    )  # fmt: skip
