"""AP integration, F1 smoothing and per-class AP on hand-checkable curves."""

from __future__ import annotations

import numpy as np
import pytest

from yoloforge.metrics.ap import ap_per_class, compute_ap, smooth


@pytest.mark.parametrize("method", ["interp", "coco", "continuous"])
def test_perfect_curve_has_ap_one(method: str) -> None:
    recall = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    assert compute_ap(recall, np.ones(5), method)[0] == pytest.approx(1.0)


def test_interp_is_the_trapezoid_of_the_linear_envelope() -> None:
    # envelope: 1 up to recall 0.5, then linear to 0.5 at recall 1 (both pieces on the 0.01 grid: exact)
    ap, mpre, mrec = compute_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5]), "interp")
    assert ap == pytest.approx(0.5 + 0.5 * 0.75)
    assert mrec.tolist() == [0.0, 0.5, 1.0, 1.01] and mpre.tolist() == [1.0, 1.0, 0.5, 0.0]
    # the curve ends 0.01 after the last recall: unreached recalls count 0 (not a ramp down to recall 1)
    assert compute_ap(np.array([0.5]), np.array([1.0]), "interp")[0] == pytest.approx(0.5 + 0.005, abs=1e-12)


def test_coco_reads_the_envelope_as_steps_and_averages() -> None:
    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    ap = compute_ap(recall, precision, "coco")[0]
    assert ap == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101)  # recalls 0..0.50 read 1, 0.51..1 read 2/3
    assert compute_ap(np.array([0.3]), np.array([1.0]), "coco")[0] == pytest.approx(31 / 101)
    assert compute_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5]), "continuous")[0] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="method"):
        compute_ap(recall, precision, "voc07")


def test_smooth_is_a_box_filter_of_the_given_fraction() -> None:
    assert np.allclose(smooth(np.full(1000, 0.3), 0.1), 0.3)
    impulse = np.zeros(1000)
    impulse[500] = 1.0
    out = smooth(impulse, 0.1)
    assert len(out) == 1000 and np.count_nonzero(out) == 101 and out[450:551] == pytest.approx(1 / 101)


def test_ap_per_class() -> None:
    # class 0: 3 labels, predictions TP, FP, TP (by confidence); class 1: 2 labels, no predictions;
    # class 7: predictions but no labels (ignored)
    conf = np.array([0.9, 0.8, 0.7, 0.95])
    pred_cls = np.array([0, 0, 0, 7])
    tp = np.array([[1, 1], [0, 0], [1, 0], [0, 0]], dtype=bool)
    res = ap_per_class(tp, conf, pred_cls, target_cls=np.array([0, 0, 0, 1, 1]))
    assert res.classes.tolist() == [0, 1]
    assert res.ap.shape == (2, 2) and res.ap[1].tolist() == [0.0, 0.0]
    expected = compute_ap(np.array([1, 1, 2]) / 3, np.array([1, 1 / 2, 2 / 3]))[0]
    assert res.ap[0, 0] == pytest.approx(expected)
    assert res.ap[0, 1] == pytest.approx(compute_ap(np.array([1, 1, 1]) / 3, np.array([1, 1 / 2, 1 / 3]))[0])
    assert res.p_curve.shape == res.r_curve.shape == res.f1_curve.shape == res.pr_curve.shape == (2, 1000)
    # the best mean-F1 confidence keeps all three class-0 predictions: P = 2/3, R = 2/3
    assert res.conf_threshold <= 0.7
    assert res.p[0] == pytest.approx(2 / 3) and res.r[0] == pytest.approx(2 / 3)
    assert res.tp.tolist() == [2.0, 0.0] and res.fp.tolist() == [1.0, 0.0]


def test_ap_per_class_without_predictions_or_labels() -> None:
    empty = ap_per_class(np.zeros((0, 10), bool), np.zeros(0), np.zeros(0), np.array([3, 3]))
    assert empty.classes.tolist() == [3] and empty.ap.sum() == 0 and empty.p.tolist() == [0.0]
    none = ap_per_class(np.zeros((2, 10), bool), np.array([0.5, 0.4]), np.array([1, 1]), np.zeros(0))
    assert none.ap.shape == (0, 10) and none.p.shape == (0,)
