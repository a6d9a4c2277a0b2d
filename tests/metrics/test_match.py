"""Matching predictions to labels: both rules against plain-loop statements of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yoloforge.metrics.match import IOU_THRESHOLDS, match_predictions


def greedy_reference(pc: np.ndarray, tc: np.ndarray, iou: np.ndarray, t: float) -> list[bool]:
    """pycocotools' loop: predictions in order, each takes the best free same-class label (ties: the later)."""
    taken, out = set(), []
    for i in range(len(pc)):
        best, best_iou = -1, t
        for j in range(len(tc)):
            if j in taken or tc[j] != pc[i] or iou[i, j] < best_iou:
                continue
            best, best_iou = j, iou[i, j]
        if best >= 0:
            taken.add(best)
        out.append(best >= 0)
    return out


def no_fallback_reference(pc: np.ndarray, tc: np.ndarray, iou: np.ndarray, t: float) -> list[bool]:
    """Predictions in order; each wants its best same-class label and gets it only if still free."""
    taken, out = set(), []
    for i in range(len(pc)):
        cand = [j for j in range(len(tc)) if tc[j] == pc[i] and iou[i, j] >= t]
        best = max(cand, key=lambda j: (iou[i, j], -j)) if cand else -1
        ok = best >= 0 and best not in taken
        if ok:
            taken.add(best)
        out.append(ok)
    return out


def random_case(seed: int, n_pred: int = 40, n_true: int = 12, nc: int = 3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    iou = rng.random((n_pred, n_true)) * (rng.random((n_pred, n_true)) < 0.4)
    iou = np.round(iou, 2)  # some exact ties, to pin the tie rule
    return rng.integers(0, nc, n_pred), rng.integers(0, nc, n_true), iou


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rule", ["greedy", "no_fallback"])
def test_rules_match_their_plain_statement(seed: int, rule: str) -> None:
    pc, tc, iou = random_case(seed)
    got = match_predictions(pc, tc, iou, rule=rule)
    ref = greedy_reference if rule == "greedy" else no_fallback_reference
    expected = np.array([ref(pc, tc, iou, t) for t in IOU_THRESHOLDS]).T
    assert got.shape == (len(pc), 10)
    assert np.array_equal(got, expected)


def test_greedy_falls_back_where_no_fallback_does_not() -> None:
    # both predictions like label 0 best; the second could still take label 1
    iou = np.array([[0.9, 0.0], [0.8, 0.6]])
    cls = np.zeros(2)
    t = [0.5]
    assert match_predictions(cls, cls, iou, t, rule="greedy")[:, 0].tolist() == [True, True]
    assert match_predictions(cls, cls, iou, t, rule="no_fallback")[:, 0].tolist() == [True, False]


def test_classes_thresholds_and_edge_cases() -> None:
    iou = torch.tensor([[0.72], [0.9]], dtype=torch.float64)
    got = match_predictions(torch.tensor([0, 1]), torch.tensor([1]), iou)
    assert got[0].sum() == 0  # wrong class never matches
    assert got[1].tolist() == [t <= 0.9 for t in IOU_THRESHOLDS]  # IoU >= t, inclusive
    assert match_predictions(np.zeros(3), np.zeros(0), np.zeros((3, 0))).shape == (3, 10)
    assert match_predictions(np.zeros(0), np.zeros(2), np.zeros((0, 2))).shape == (0, 10)
    with pytest.raises(ValueError, match="n_pred, n_true"):
        match_predictions(np.zeros(2), np.zeros(3), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="rule"):
        match_predictions(np.zeros(1), np.zeros(1), np.ones((1, 1)), rule="hungarian")
