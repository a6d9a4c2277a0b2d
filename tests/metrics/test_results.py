"""DetectionStats -> DetMetrics: streaming, the keys validators log, per-class table and maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yoloforge.metrics.confusion import ConfusionMatrix
from yoloforge.metrics.results import DetectionStats, DetMetrics, Metrics


def _image(seed: int, nc: int = 4) -> tuple[torch.Tensor, np.ndarray]:
    """Labels and predictions: jittered copies of some labels (with wrong classes now and then) plus noise."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    xy = rng.random((n, 2)) * 500
    boxes = np.concatenate((xy, xy + 20 + rng.random((n, 2)) * 100), 1)
    cls = rng.integers(0, nc, n)
    labels = np.concatenate((cls[:, None], boxes), 1)
    keep = rng.random(n) < 0.8
    jit = boxes[keep] + rng.normal(0, 4, (int(keep.sum()), 4))
    pcls = np.where(rng.random(int(keep.sum())) < 0.85, cls[keep], rng.integers(0, nc, int(keep.sum())))
    noise = np.concatenate((rng.random((3, 2)) * 500, rng.random((3, 2)) * 500 + 520), 1)
    pboxes = np.concatenate((jit, noise))
    pred = np.concatenate(
        (pboxes, rng.random((len(pboxes), 1)), np.concatenate((pcls, rng.integers(0, nc, 3)))[:, None]), 1
    )
    return torch.from_numpy(pred).float(), labels


def test_streaming_is_batch_invariant_and_metrics_are_sane() -> None:
    images = [_image(s) for s in range(30)]
    one = DetectionStats(nc=6, names=["a", "b", "c", "d", "e", "f"])
    one.update([p for p, _ in images], [lb for _, lb in images])
    many = DetectionStats(nc=6, names={i: n for i, n in enumerate("abcdef")})
    for i in range(0, 30, 7):
        many.update([p for p, _ in images[i : i + 7]], [lb for _, lb in images[i : i + 7]])
    a, b = one.compute(), many.compute()
    assert a.results_dict == b.results_dict
    assert 0.1 < a.box.map < a.box.map50 <= 1 and 0 < a.box.mp <= 1 and 0 < a.box.mr <= 1
    assert a.box.map75 <= a.box.map50 and a.fitness == a.box.map
    assert list(a.results_dict) == [
        "metrics/precision(B)",
        "metrics/recall(B)",
        "metrics/mAP50(B)",
        "metrics/mAP50-95(B)",
        "fitness",
    ]
    assert a.keys == list(a.results_dict)[:4] and Metrics is DetMetrics


def test_maps_table_and_counts() -> None:
    stats = DetectionStats(nc=5, names=["a", "b", "c", "d", "e"])
    label = np.array([[0, 10, 10, 50, 50], [0, 100, 100, 150, 150], [2, 200, 200, 260, 260]])
    pred = np.array([[10, 10, 50, 50, 0.9, 0], [200, 200, 260, 262, 0.8, 2]])
    stats.update([pred, np.zeros((0, 6))], [label, (np.array([2]), np.array([[5.0, 5, 40, 40]]))])
    m = stats.compute()
    assert m.n_images == 2
    assert m.nt_per_class.tolist() == [2, 0, 2, 0, 0] and m.nt_per_image.tolist() == [1, 0, 2, 0, 0]
    assert m.box.ap_class_index.tolist() == [0, 2]
    maps = m.maps
    assert maps.shape == (5,) and maps[1] == maps[3] == maps[4] == pytest.approx(m.box.map)  # no labels: overall
    assert maps[0] == pytest.approx(m.box.ap[0])
    rows = m.class_table()
    assert [r["class"] for r in rows] == ["all", "a", "c"]
    assert rows[0]["images"] == 2 and rows[0]["instances"] == 4 and rows[2]["images"] == 2
    assert rows[1]["mAP50"] == pytest.approx(0.5, abs=0.01)  # one of two found, at the top: AP ~ 0.5
    text = m.table_str()
    assert "mAP50-95" in text and text.count("\n") == 3
    assert set(m.speed) == {"preprocess", "inference", "loss", "postprocess"}
    assert [c[2:] for c in m.curves_results()] == [
        ("Recall", "Precision"),
        ("Confidence", "F1"),
        ("Confidence", "Precision"),
        ("Confidence", "Recall"),
    ]


def test_empty_and_confusion_hook() -> None:
    empty = DetectionStats(nc=3).compute()
    assert empty.box.map == 0 and empty.fitness == 0 and empty.maps.tolist() == [0, 0, 0]
    cm = ConfusionMatrix(nc=3)
    stats = DetectionStats(nc=3, confusion=cm)
    stats.update([np.array([[0, 0, 10, 10, 0.9, 1]])], [np.array([[1, 0, 0, 10, 10]])])
    assert stats.compute().confusion_matrix is cm and cm.matrix[1, 1] == 1
    with pytest.raises(ValueError, match="prediction sets"):
        stats.update([None], [])
