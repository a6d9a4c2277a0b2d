"""Box maths, DFL, target padding and the full DetectionLoss on a real yolo11n."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yoloforge.cfg.schema import RunConfig
from yoloforge.loss.boxes import bbox2dist, bbox_iou, xywh2xyxy
from yoloforge.loss.detection import DetectionLoss, distribution_focal_loss, pad_targets
from yoloforge.nn.builder import build_model
from yoloforge.nn.model import DetectionModel


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tests run two per machine under pytest -n 2: one thread each avoids oversubscribing the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _ciou_reference(a: list[float], b: list[float]) -> float:
    """CIoU of two xyxy boxes straight from the paper's definition, in Python floats."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    wa, ha, wb, hb = a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1]
    iou = iw * ih / (wa * ha + wb * hb - iw * ih)
    cw = max(a[2], b[2]) - min(a[0], b[0])
    ch = max(a[3], b[3]) - min(a[1], b[1])
    rho2 = ((a[0] + a[2]) / 2 - (b[0] + b[2]) / 2) ** 2 + ((a[1] + a[3]) / 2 - (b[1] + b[3]) / 2) ** 2
    v = 4 / math.pi**2 * (math.atan(wb / hb) - math.atan(wa / ha)) ** 2
    alpha = v / ((1 - iou) + v) if v > 0 else 0.0
    return iou - rho2 / (cw**2 + ch**2) - alpha * v


PAIRS = [
    ([0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]),  # shifted square, IoU 1/7
    ([0.0, 0.0, 4.0, 2.0], [1.0, 0.5, 3.0, 4.5]),  # different aspect ratios
    ([10.0, 10.0, 20.0, 30.0], [12.0, 8.0, 25.0, 26.0]),
    ([0.0, 0.0, 1.0, 1.0], [3.0, 4.0, 5.0, 7.0]),  # disjoint
]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_ciou_matches_hand_computation(a: list[float], b: list[float]) -> None:
    got = bbox_iou(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), ciou=True)
    assert got.item() == pytest.approx(_ciou_reference(a, b), abs=1e-6)


def test_plain_iou_and_xywh_input() -> None:
    a, b = torch.tensor([[0.0, 0.0, 2.0, 2.0]]), torch.tensor([[1.0, 1.0, 3.0, 3.0]])
    assert bbox_iou(a, b).item() == pytest.approx(1 / 7, abs=1e-6)
    xywh = torch.tensor([[1.0, 1.0, 2.0, 2.0]]), torch.tensor([[2.0, 2.0, 2.0, 2.0]])
    assert bbox_iou(*xywh, xywh=True).item() == pytest.approx(1 / 7, abs=1e-6)
    assert torch.equal(xywh2xyxy(xywh[1]), b)


def test_identical_boxes_iou_one_and_zero_ciou_loss() -> None:
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [5.0, 1.0, 9.0, 7.5], [0.1, 0.2, 0.3, 0.9]])
    assert torch.allclose(bbox_iou(boxes, boxes), torch.ones(3), atol=1e-6)
    assert torch.allclose(1 - bbox_iou(boxes, boxes, ciou=True), torch.zeros(3), atol=1e-6)


def test_bbox2dist_distances_and_clamp() -> None:
    anchors = torch.tensor([[5.0, 5.0], [5.0, 5.0]])
    boxes = torch.tensor([[3.0, 1.0, 6.5, 30.0], [6.0, 0.0, 8.0, 8.0]])
    got = bbox2dist(anchors, boxes, reg_max=16)
    assert torch.allclose(got[0], torch.tensor([2.0, 4.0, 1.5, 14.99]))  # 25 clamped to reg_max - 1 - 0.01
    assert got[1, 0] == 0  # anchor left of the box: negative distance clamped to 0


def test_dfl_is_two_bin_cross_entropy() -> None:
    logits = torch.randn(1, 16, generator=torch.Generator().manual_seed(1))
    logp = torch.log_softmax(logits[0], 0).tolist()
    got = distribution_focal_loss(logits, torch.tensor([3.25])).item()
    assert got == pytest.approx(-(0.75 * logp[3] + 0.25 * logp[4]), abs=1e-5)
    peaked = torch.full((1, 16), -30.0)
    peaked[0, 7] = 30.0
    assert distribution_focal_loss(peaked, torch.tensor([7.0])).item() == pytest.approx(0.0, abs=1e-5)


def test_pad_targets_groups_by_image_in_pixels() -> None:
    batch = {
        "cls": torch.tensor([[4.0], [7.0], [2.0]]),
        "bboxes": torch.tensor([[0.5, 0.5, 0.5, 0.5], [0.25, 0.5, 0.5, 1.0], [0.5, 0.25, 1.0, 0.5]]),
        "batch_idx": torch.tensor([2.0, 0.0, 2.0]),
    }
    labels, boxes, mask = pad_targets(batch, 3, torch.tensor([64.0, 128.0]), torch.device("cpu"))  # h=64, w=128
    assert mask.tolist() == [[True, False], [False, False], [True, True]]
    assert labels.tolist() == [[7.0, 0.0], [0.0, 0.0], [4.0, 2.0]]
    assert boxes[0, 0].tolist() == [0.0, 0.0, 64.0, 64.0]
    assert boxes[2].tolist() == [[32.0, 16.0, 96.0, 48.0], [0.0, 0.0, 128.0, 32.0]]
    assert boxes[1].abs().sum() == 0


@pytest.fixture(scope="module")
def model() -> DetectionModel:
    torch.manual_seed(0)
    return build_model("yolo11n.yaml", nc=80).train()


def _batch() -> dict[str, torch.Tensor]:
    return {
        "img": torch.randint(0, 255, (2, 3, 128, 128), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
        "cls": torch.tensor([[1.0], [3.0], [5.0], [0.0]]),
        "bboxes": torch.tensor(
            [[0.5, 0.5, 0.4, 0.4], [0.3, 0.3, 0.2, 0.3], [0.6, 0.6, 0.5, 0.3], [0.7, 0.2, 0.3, 0.3]]
        ),
        "batch_idx": torch.tensor([0.0, 1.0, 0.0, 1.0]),
    }


def _forward(model: DetectionModel, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    return model(batch["img"].float() / 255)


def test_loss_on_yolo11n_backward_reaches_box_and_class_branches(model: DetectionModel) -> None:
    batch = _batch()
    total, items = DetectionLoss(model)(_forward(model, batch), batch)
    assert torch.isfinite(total) and total.item() > 0
    assert items.shape == (3,) and not items.requires_grad and (items > 0).all()
    assert total.item() == pytest.approx(items.sum().item() * 2, rel=1e-5)  # sum of items x batch size
    total.backward()
    head = model.head
    for branch in (head.cv2, head.cv3):  # box (DFL logits) and class branches
        grads = [b[-1].weight.grad for b in branch]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(g.abs().sum() for g in grads) > 0


def test_target_order_does_not_matter(model: DetectionModel) -> None:
    batch = _batch()
    preds = [p.detach() for p in _forward(model, batch)]
    flipped = {k: v.flip(0) if k != "img" else v for k, v in batch.items()}
    loss = DetectionLoss(model)
    assert torch.allclose(loss(preds, batch)[1], loss(preds, flipped)[1], atol=1e-5)


def test_no_targets_gives_only_classification_loss(model: DetectionModel) -> None:
    batch = {**_batch(), "cls": torch.zeros(0, 1), "bboxes": torch.zeros(0, 4), "batch_idx": torch.zeros(0)}
    total, items = DetectionLoss(model)(_forward(model, batch), batch)
    assert items[0] == 0 and items[2] == 0 and items[1] > 0
    total.backward()
    assert model.head.cv3[0][-1].weight.grad.abs().sum() > 0


def test_gains_from_config(model: DetectionModel) -> None:
    batch = _batch()
    preds = [p.detach() for p in _forward(model, batch)]
    base = DetectionLoss(model, box=1.0, cls=1.0, dfl=1.0)(preds, batch)[1]
    scaled = DetectionLoss.from_config(model, RunConfig(box=2.0, cls=0.0, dfl=3.0))(preds, batch)[1]
    assert torch.allclose(scaled, base * torch.tensor([2.0, 0.0, 3.0]), rtol=1e-5)
    default = DetectionLoss.from_config(model, RunConfig())(preds, batch)[1]
    assert torch.allclose(default, base * torch.tensor([7.5, 0.5, 1.5]), rtol=1e-5)


def test_overfits_one_coco_image(coco128_dir: Path) -> None:
    stem, size = "000000000009", 128
    image = cv2.imread(str(coco128_dir / "images" / "train2017" / f"{stem}.jpg"))
    labels = np.loadtxt(coco128_dir / "labels" / "train2017" / f"{stem}.txt", ndmin=2, dtype=np.float32)
    rgb = cv2.cvtColor(cv2.resize(image, (size, size)), cv2.COLOR_BGR2RGB)  # stretch: normalised xywh unchanged
    img = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float() / 255
    batch = {
        "cls": torch.from_numpy(labels[:, :1]),
        "bboxes": torch.from_numpy(labels[:, 1:]),
        "batch_idx": torch.zeros(len(labels)),
    }
    torch.manual_seed(0)
    model = build_model("yolo11n.yaml", nc=80).train()
    loss_fn = DetectionLoss(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(60):
        total, _items = loss_fn(model(img), batch)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert all(math.isfinite(v) for v in history)
    assert np.mean(history[-5:]) < 0.5 * history[0], f"loss {history[0]:.3f} -> {history[-5:]}"
