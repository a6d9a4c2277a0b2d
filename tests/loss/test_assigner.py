"""TaskAlignedAssigner on small synthetic grids where the right answer can be worked out by hand."""

from __future__ import annotations

import pytest
import torch

from yoloforge.loss.assigner import TaskAlignedAssigner

GRID = 8  # 8 x 8 anchors, stride 1: centres at 0.5, 1.5, ..., 7.5
NC = 3


def _anchors() -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(GRID) + 0.5, torch.arange(GRID) + 0.5, indexing="ij")
    return torch.stack((xs, ys), -1).view(-1, 2)


def _inside(box: list[float]) -> list[int]:
    """Anchor indices whose centre lies strictly inside an xyxy box (plain Python)."""
    return [i for i, (x, y) in enumerate(_anchors().tolist()) if box[0] < x < box[2] and box[1] < y < box[3]]


def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _gts(boxes: list[list[float]], labels: list[int], valid: list[bool] | None = None):
    valid = valid if valid is not None else [True] * len(boxes)
    return torch.tensor([labels]).float(), torch.tensor([boxes]).float(), torch.tensor([valid])


def _topk_case(extra_gts: int = 0):
    """One GT [1, 1, 5, 5] of class 2; every anchor predicts exactly that box (IoU 1).

    Class-2 scores are distinct inside the box and higher (0.99) outside, so only membership
    can keep outside anchors out. Returns inputs and the expected top-5 anchors.
    """
    gen = torch.Generator().manual_seed(0)
    box = [1.0, 1.0, 5.0, 5.0]
    scores = torch.full((1, GRID * GRID, NC), 0.99)
    inside = _inside(box)
    scores[0, inside, 2] = torch.randperm(100, generator=gen)[: len(inside)].float() / 100 * 0.8 + 0.1
    pd_bboxes = torch.tensor(box).expand(1, GRID * GRID, 4).clone()
    expected = sorted(inside, key=lambda i: -scores[0, i, 2].item())[:5]
    boxes, labels, valid = [box], [2], [True]
    for _ in range(extra_gts):  # padding: covers the whole grid, a different class, masked out
        boxes.append([0.0, 0.0, 8.0, 8.0])
        labels.append(1)
        valid.append(False)
    return scores, pd_bboxes, _gts(boxes, labels, valid), expected


def test_topk_picks_highest_metric_anchors_inside_the_box() -> None:
    scores, pd_bboxes, (labels, boxes, valid), expected = _topk_case()
    out = TaskAlignedAssigner(topk=5, num_classes=NC)(scores, pd_bboxes, _anchors(), labels, boxes, valid)
    assert sorted(out.fg_mask[0].nonzero().view(-1).tolist()) == sorted(expected)
    assert (out.labels[0, expected] == 2).all()
    assert torch.allclose(out.bboxes[0, expected], torch.tensor([1.0, 1.0, 5.0, 5.0]))
    # IoU is 1 everywhere, so the normalised alignment is sqrt(score) / sqrt(best score) (alpha = 0.5)
    best = scores[0, expected[0], 2].item()
    want = torch.tensor([(scores[0, i, 2].item() / best) ** 0.5 for i in expected])
    assert torch.allclose(out.scores[0, expected, 2], want, atol=1e-5)
    assert out.scores[0, expected][:, :2].abs().sum() == 0


def test_anchors_outside_every_box_are_background() -> None:
    scores, pd_bboxes, (labels, boxes, valid), _ = _topk_case()
    out = TaskAlignedAssigner(topk=100, num_classes=NC)(scores, pd_bboxes, _anchors(), labels, boxes, valid)
    outside = sorted(set(range(GRID * GRID)) - set(_inside([1.0, 1.0, 5.0, 5.0])))
    assert not out.fg_mask[0, outside].any()
    assert out.scores[0, outside].abs().sum() == 0
    assert out.fg_mask[0].sum() == 16  # topk larger than the candidate count: all 16 inside anchors


def test_padding_gts_are_ignored() -> None:
    scores, pd_bboxes, (labels, boxes, valid), _ = _topk_case()
    plain = TaskAlignedAssigner(topk=5, num_classes=NC)(scores, pd_bboxes, _anchors(), labels, boxes, valid)
    scores, pd_bboxes, (labels, boxes, valid), _ = _topk_case(extra_gts=2)
    padded = TaskAlignedAssigner(topk=5, num_classes=NC)(scores, pd_bboxes, _anchors(), labels, boxes, valid)
    for a, b in zip(plain, padded, strict=True):
        assert torch.equal(a, b)
    assert (padded.gt_idx == 0).all()


def _overlap_case():
    """GT 0 = [0, 0, 4, 4] (class 0) and GT 1 = [2, 2, 6, 6] (class 1) share four anchors.

    Shared anchor (2.5, 2.5) predicts [2, 2, 6, 5.5] (IoU 7/8 with GT 1, 2/13 with GT 0); shared
    anchor (3.5, 3.5) predicts [0, 0, 4, 3.5] (IoU 7/8 with GT 0, 1/9 with GT 1); the others predict
    [1, 1, 5, 5] (IoU 9/23 with both).
    """
    n = GRID * GRID
    pd_bboxes = torch.tensor([1.0, 1.0, 5.0, 5.0]).expand(1, n, 4).clone()
    to_gt1, to_gt0 = 2 * GRID + 2, 3 * GRID + 3
    pd_bboxes[0, to_gt1] = torch.tensor([2.0, 2.0, 6.0, 5.5])
    pd_bboxes[0, to_gt0] = torch.tensor([0.0, 0.0, 4.0, 3.5])
    scores = torch.full((1, n, NC), 0.5)
    gts = _gts([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 6.0, 6.0]], [0, 1])
    return scores, pd_bboxes, gts, to_gt0, to_gt1


def test_anchor_in_two_boxes_goes_to_higher_iou_gt() -> None:
    scores, pd_bboxes, (labels, boxes, valid), to_gt0, to_gt1 = _overlap_case()
    out = TaskAlignedAssigner(topk=64, num_classes=NC)(scores, pd_bboxes, _anchors(), labels, boxes, valid)
    assert out.fg_mask[0, [to_gt0, to_gt1]].all()
    assert out.gt_idx[0, to_gt1] == 1 and out.labels[0, to_gt1] == 1
    assert out.gt_idx[0, to_gt0] == 0 and out.labels[0, to_gt0] == 0
    assert out.scores[0, to_gt1, 0] == 0 and out.scores[0, to_gt0, 1] == 0
    # the remaining shared anchors predict [1, 1, 5, 5]: equal IoU (9/23) with both; any one is fine
    assert (out.scores[0] > 0).sum(-1).le(1).all()


def test_best_anchor_of_each_gt_gets_its_max_iou() -> None:
    scores, pd_bboxes, (labels, boxes, valid), _, _ = _overlap_case()
    out = TaskAlignedAssigner(topk=64, num_classes=NC)(scores, pd_bboxes, _anchors(), labels, boxes, valid)
    for g, cls in enumerate([0, 1]):
        anchors = (out.fg_mask[0] & (out.gt_idx[0] == g)).nonzero().view(-1).tolist()
        max_iou = max(_iou(pd_bboxes[0, i].tolist(), boxes[0, g].tolist()) for i in anchors)
        assert max_iou == pytest.approx(7 / 8)
        assert out.scores[0, anchors, cls].max().item() == pytest.approx(max_iou, abs=1e-5)


def test_batched_equals_per_image_and_empty_image_is_background() -> None:
    s1, b1, (l1, g1, v1), *_ = _overlap_case()
    s2, b2, (l2, g2, v2), _ = _topk_case()
    # image 1 pads its single GT to two; image 2 has only a padding GT
    labels = torch.cat((l1, torch.cat((l2, l2), 1), torch.zeros(1, 2)))
    boxes = torch.cat((g1, torch.cat((g2, g2), 1), torch.ones(1, 2, 4)))
    valid = torch.tensor([[True, True], [True, False], [False, False]])
    scores, pd = torch.cat((s1, s2, s2)), torch.cat((b1, b2, b2))
    assigner = TaskAlignedAssigner(topk=5, num_classes=NC)
    batched = assigner(scores, pd, _anchors(), labels, boxes, valid)
    alone = [assigner(s1, b1, _anchors(), l1, g1, v1), assigner(s2, b2, _anchors(), l2, g2, v2)]
    for i, single in enumerate(alone):
        for a, b in zip(single, batched, strict=True):
            assert torch.equal(a[0], b[i])
    assert not batched.fg_mask[2].any() and batched.scores[2].abs().sum() == 0


def test_chunked_matches_unchunked() -> None:
    """Three different images (two GTs each), so a chunk written to the wrong image would show."""
    gen = torch.Generator().manual_seed(1)
    s0, b0, gts0, *_ = _overlap_case()
    s1, b1, gts1, _ = _topk_case(extra_gts=1)
    s2 = torch.rand(1, GRID * GRID, NC, generator=gen)
    xy = torch.rand(1, GRID * GRID, 2, generator=gen) * 4
    b2 = torch.cat((xy, xy + 1 + torch.rand(1, GRID * GRID, 2, generator=gen) * 3), -1)
    gts2 = _gts([[4.0, 0.0, 8.0, 5.0], [1.0, 3.0, 7.0, 8.0]], [2, 0])
    scores, pd, labels, boxes, valid = (
        torch.cat(ts) for ts in zip((s0, b0, *gts0), (s1, b1, *gts1), (s2, b2, *gts2), strict=True)
    )
    full = TaskAlignedAssigner(topk=5, num_classes=NC)(scores, pd, _anchors(), labels, boxes, valid)
    small = TaskAlignedAssigner(topk=5, num_classes=NC, max_elements=1)(scores, pd, _anchors(), labels, boxes, valid)
    fg = full.fg_mask
    assert fg.any(-1).all() and not torch.equal(fg[0], fg[1]) and not torch.equal(fg[1], fg[2])
    assert not torch.equal(fg[0], fg[2])
    for a, c in zip(full, small, strict=True):
        assert torch.equal(a, c)


def test_no_ground_truth_at_all() -> None:
    scores = torch.rand(2, GRID * GRID, NC)
    out = TaskAlignedAssigner(num_classes=NC)(
        scores, torch.rand(2, GRID * GRID, 4), _anchors(), torch.zeros(2, 0), torch.zeros(2, 0, 4), torch.zeros(2, 0)
    )
    assert out.scores.shape == scores.shape and out.bboxes.shape == (2, GRID * GRID, 4)
    assert not out.fg_mask.any() and out.scores.sum() == 0
