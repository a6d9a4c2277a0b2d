"""Exact greedy NMS: ours must keep the very same boxes as a plain-Python reference."""

from __future__ import annotations

import logging

import pytest
import torch

from yoloforge.utils.boxes import xywh2xyxy
from yoloforge.utils.nms import nms, non_max_suppression


def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference_nms(boxes: list[list[float]], scores: list[float], thr: float, ids: list[int] | None = None) -> list[int]:
    """The textbook algorithm: visit by decreasing score, keep unless a kept box (same id) has IoU > thr."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept: list[int] = []
    for i in order:
        if all((ids is not None and ids[i] != ids[j]) or _iou(boxes[i], boxes[j]) <= thr for j in kept):
            kept.append(i)
    return kept


def random_boxes(n: int, seed: int, clusters: int | None = None, size: float = 640.0) -> tuple[torch.Tensor, ...]:
    """float64 xyxy boxes (uniform, or jittered around a few objects like real detections) and scores."""
    g = torch.Generator().manual_seed(seed)
    if clusters:
        centres = torch.rand(clusters, 2, generator=g, dtype=torch.float64) * size
        sizes = torch.rand(clusters, 2, generator=g, dtype=torch.float64) * 150 + 10
        k = torch.randint(0, clusters, (n,), generator=g)
        xy = centres[k] + torch.randn(n, 2, generator=g, dtype=torch.float64) * 8
        wh = sizes[k] * (1 + 0.15 * torch.randn(n, 2, generator=g, dtype=torch.float64)).clamp(min=0.3)
    else:
        xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * size
        wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 150 + 1
    return torch.cat((xy - wh / 2, xy + wh / 2), 1), torch.rand(n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("clusters", [None, 12])
@pytest.mark.parametrize("thr", [0.3, 0.7])
def test_nms_matches_reference(seed: int, clusters: int | None, thr: float) -> None:
    boxes, scores = random_boxes(800 if clusters else 300, seed, clusters)
    got = nms(boxes, scores, thr, block=64).tolist()  # small blocks: exercise the cross-block path
    assert got == reference_nms(boxes.tolist(), scores.tolist(), thr)


@pytest.mark.parametrize("seed", [0, 1])
def test_nms_class_aware_matches_reference(seed: int) -> None:
    boxes, scores = random_boxes(500, seed, clusters=8)
    ids = torch.randint(0, 3, (500,), generator=torch.Generator().manual_seed(seed))
    got = nms(boxes, scores, 0.5, idxs=ids, block=100).tolist()
    assert got == reference_nms(boxes.tolist(), scores.tolist(), 0.5, ids.tolist())
    agnostic = nms(boxes, scores, 0.5).tolist()
    assert agnostic == reference_nms(boxes.tolist(), scores.tolist(), 0.5)
    assert len(agnostic) < len(got)


def test_nms_max_keep_is_a_prefix_and_edge_cases() -> None:
    boxes, scores = random_boxes(600, 5)
    full = nms(boxes, scores, 0.5)
    assert torch.equal(nms(boxes, scores, 0.5, max_keep=40, block=32), full[:40])
    assert nms(boxes[:0], scores[:0], 0.5).numel() == 0
    same = torch.tensor([[0.0, 0, 10, 10]] * 3)
    assert nms(same, torch.tensor([0.2, 0.9, 0.5]), 0.5).tolist() == [1]
    empty = torch.zeros(3, 4)  # zero-area boxes: IoU 0/0 never suppresses (as in torchvision)
    assert nms(empty, torch.tensor([0.1, 0.3, 0.2]), 0.5).tolist() == [1, 2, 0]
    tied = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10]])
    assert nms(tied, torch.tensor([0.5, 0.5]), 0.5).tolist() == [0]  # ties: input order wins


def _model_output(n_anchors: int, nc: int, seed: int) -> torch.Tensor:
    """A fake (1, 4+nc, A) eval output: xywh boxes around a few objects, sigmoid-like scores."""
    boxes, _ = random_boxes(n_anchors, seed, clusters=6)
    from yoloforge.utils.boxes import xyxy2xywh

    g = torch.Generator().manual_seed(seed)
    cls = torch.rand(n_anchors, nc, generator=g) ** 4
    return torch.cat((xyxy2xywh(boxes).float(), cls), 1).T[None]


def test_nms_conf_filter_and_class_aware() -> None:
    pred = _model_output(400, 3, seed=7)
    out = non_max_suppression(pred, conf=0.3, iou=0.6)[0]
    x = pred[0].T
    best, cls = x[:, 4:].max(1)
    m = best > 0.3
    boxes = xywh2xyxy(x[m, :4]).double()
    ref = reference_nms(boxes.tolist(), best[m].tolist(), 0.6, cls[m].tolist())
    assert out.shape == (len(ref), 6)
    assert torch.allclose(out[:, :4].double(), boxes[ref])
    assert torch.equal(out[:, 5], cls[m][ref].float())
    assert (out[:, 4] > 0.3).all() and (out[:, 4].diff() <= 0).all()
    agn = non_max_suppression(pred, conf=0.3, iou=0.6, agnostic=True)[0]
    assert len(agn) == len(reference_nms(boxes.tolist(), best[m].tolist(), 0.6))
    only = non_max_suppression(pred, conf=0.3, iou=0.6, classes=[1])[0]
    assert set(only[:, 5].tolist()) == {1.0} and len(only) == int((out[:, 5] == 1).sum())


def test_nms_multi_label_and_max_det() -> None:
    pred = _model_output(300, 4, seed=3)
    single = non_max_suppression(pred, conf=0.2, iou=0.7)[0]
    multi = non_max_suppression(pred, conf=0.2, iou=0.7, multi_label=True)[0]
    assert len(multi) > len(single)
    x = pred[0].T
    pairs = (x[:, 4:] > 0.2).nonzero()
    boxes = xywh2xyxy(x[pairs[:, 0], :4]).double()
    scores = x[pairs[:, 0], 4 + pairs[:, 1]]
    ref = reference_nms(boxes.tolist(), scores.tolist(), 0.7, pairs[:, 1].tolist())
    assert torch.equal(multi[:, 4], scores[ref])
    capped = non_max_suppression(pred, conf=0.2, iou=0.7, multi_label=True, max_det=5)[0]
    assert torch.equal(capped, multi[:5])
    top = non_max_suppression(pred, conf=0.2, iou=0.7, multi_label=True, max_nms=50)[0]
    assert len(top) <= 50 and top[0, 4] == multi[0, 4]


def test_nms_batch_and_time_limit(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    pred = torch.cat([_model_output(200, 2, seed=s) for s in range(3)])
    out = non_max_suppression(pred, conf=0.1)
    assert len(out) == 3 and all(o.shape[1] == 6 for o in out)
    assert torch.equal(out[1], non_max_suppression(pred[1:2], conf=0.1)[0])
    monkeypatch.setattr(logging.getLogger("yoloforge"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="yoloforge"):
        late = non_max_suppression(pred, conf=0.1, time_limit=0.0)
    assert "time limit" in caplog.text
    assert late[1].shape == (0, 6) and late[2].shape == (0, 6)
    assert non_max_suppression(torch.zeros(2, 6, 10))[0].shape == (0, 6)


def test_nms_leaves_torch_threads_alone_for_every_thread() -> None:
    """A server thread started while NMS runs elsewhere must get the process's thread count, not 1.

    (When NMS lowered torch.set_num_threads around each call, 199 of 200 such threads got 1 thread for good.)
    """
    import threading

    before = torch.get_num_threads()
    g = torch.Generator().manual_seed(0)
    pred = torch.cat((torch.rand(4, 2, 2100, generator=g) * 320, torch.rand(4, 2, 2100, generator=g) * 60 + 5,
                      torch.rand(4, 80, 2100, generator=g) ** 8), 1)  # fmt: skip
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            non_max_suppression(pred, conf=0.001, multi_label=True, time_limit=60)

    worker = threading.Thread(target=busy)
    worker.start()
    seen: list[int] = []
    try:
        for _ in range(40):
            t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
            t.start()
            t.join()
    finally:
        stop.set()
        worker.join()
    assert seen == [before] * 40 and torch.get_num_threads() == before
