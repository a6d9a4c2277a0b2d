"""Confusion matrix layout: matrix[predicted, true], background last."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yoloforge.metrics.confusion import ConfusionMatrix
from yoloforge.utils.plotting import normalize_confusion


def test_confusion_matrix_counts() -> None:
    cm = ConfusionMatrix(nc=3)
    labels = np.array([[0, 0, 0, 10, 10], [1, 20, 20, 40, 40], [2, 100, 100, 120, 120]])
    det = torch.tensor(
        [
            [0, 0, 10, 10, 0.9, 0],  # right
            [20, 20, 40, 41, 0.8, 2],  # label 1 seen as class 2
            [21, 21, 40, 40, 0.7, 1],  # duplicate of label 1: background false positive
            [200, 200, 210, 210, 0.6, 1],  # nothing there
            [100, 100, 120, 120, 0.1, 2],  # under conf 0.25: ignored, so label 2 is missed
        ]
    )
    cm.update(det, labels)
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 0] = 1
    expected[2, 1] = 1
    expected[1, 3] = 2  # two class-1 false alarms
    expected[3, 2] = 1  # label 2 missed
    assert np.array_equal(cm.matrix, expected)
    norm = normalize_confusion(cm.matrix)
    assert np.allclose(norm.sum(0), 1.0) and norm[1, 3] == pytest.approx(1.0)


def test_confusion_matrix_empty_sides_and_reset() -> None:
    cm = ConfusionMatrix(nc=2, conf=0.5)
    cm.update(None, np.array([[1, 0, 0, 5, 5]]))
    cm.update(np.array([[0, 0, 5, 5, 0.9, 0]]), np.zeros((0, 5)))
    assert cm.matrix[2, 1] == 1 and cm.matrix[0, 2] == 1 and cm.matrix.sum() == 2
    cm.reset()
    assert cm.matrix.sum() == 0
