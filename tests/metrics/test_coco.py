"""COCO JSON writing, YOLO labels -> COCO ground truth, and agreement with pycocotools on synthetic data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yoloforge.metrics.coco import (
    coco80_to_coco91,
    coco_class_map,
    evaluate_with_pycocotools,
    image_id_for,
    predictions_to_coco_json,
    read_yolo_labels,
    yolo_labels_to_coco_gt,
)
from yoloforge.metrics.results import DetectionStats


def test_coco80_to_91_is_the_public_map() -> None:
    ids = coco80_to_coco91()
    assert len(ids) == 80 and len(set(ids)) == 80 and ids[0] == 1 and ids[-1] == 90
    assert sorted(set(range(1, 91)) - set(ids)) == [12, 26, 29, 30, 45, 66, 68, 69, 71, 83]
    assert ids[11] == 13 and ids[79] == 90  # stop sign, toothbrush


def test_coco_class_map_and_image_ids() -> None:
    import yaml

    coco_yaml = Path(__file__).resolve().parents[2] / "yoloforge" / "cfg" / "datasets" / "coco.yaml"
    names = yaml.safe_load(coco_yaml.read_text())["names"]
    assert coco_class_map(names) == coco80_to_coco91()
    assert coco_class_map(["cat", "dog"]) is None
    assert image_id_for("/x/000000000139.jpg") == 139 and image_id_for("a/img_7.png") == "img_7"


def test_predictions_to_coco_json() -> None:
    pred = torch.tensor([[10.12345, 20.0, 30.5, 60.25, 0.876543, 2.0], [0, 0, 1, 1, 0.1, 79]])
    out = predictions_to_coco_json([pred, np.zeros((0, 6))], [42, 43], class_map=coco80_to_coco91())
    assert out[0] == {"image_id": 42, "category_id": 3, "bbox": [10.123, 20.0, 20.377, 40.25], "score": 0.87654}
    assert out[1]["category_id"] == 90 and len(out) == 2
    raw = predictions_to_coco_json([pred], ["a"], box_decimals=None, score_decimals=None)
    assert raw[0]["category_id"] == 2 and raw[0]["bbox"][0] == pytest.approx(10.12345)


def test_yolo_labels_to_coco_gt(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "000000000007.png"), np.zeros((50, 200, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "bg.png"), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "000000000007.txt").write_text("1 0.5 0.5 0.5 0.2\n0 0.1 0.1 0.3 0.1 0.3 0.5\n")
    assert read_yolo_labels(tmp_path / "missing.txt")[1].shape == (0, 4)
    cls, xywhn = read_yolo_labels(tmp_path / "000000000007.txt")
    assert cls.tolist() == [1, 0] and np.allclose(xywhn[1], [0.2, 0.3, 0.2, 0.4])  # polygon -> its box
    gt = yolo_labels_to_coco_gt(
        [tmp_path / "000000000007.png", tmp_path / "bg.png"],
        [tmp_path / "000000000007.txt", tmp_path / "bg.txt"],
        names=["a", "b"],
    )
    assert gt["images"] == [
        {"id": 7, "file_name": "000000000007.png", "width": 200, "height": 50},
        {"id": "bg", "file_name": "bg.png", "width": 10, "height": 10},
    ]
    first = gt["annotations"][0]
    assert first["id"] == 1 and first["image_id"] == 7 and first["category_id"] == 1 and first["iscrowd"] == 0
    assert np.allclose(first["bbox"], [50, 20, 100, 10]) and first["area"] == pytest.approx(1000)
    assert gt["categories"] == [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}]


def _synthetic(n_images: int = 40, nc: int = 5, seed: int = 0) -> tuple[dict, list, list, list]:
    """GT dict, per-image labels (cls, xyxy) and predictions (n, 6) with realistic jitter, misses and noise."""
    rng = np.random.default_rng(seed)
    images, anns, labels, preds = [], [], [], []
    for i in range(n_images):
        images.append({"id": i + 1, "width": 640, "height": 480})
        n = int(rng.integers(0, 8))
        xy = rng.random((n, 2)) * [560, 400]
        boxes = np.concatenate((xy, xy + 30 + rng.random((n, 2)) * 150), 1)
        cls = rng.integers(0, nc, n)
        for c, b in zip(cls, boxes, strict=True):
            bb = [b[0], b[1], b[2] - b[0], b[3] - b[1]]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c), "bbox": bb,
                         "area": bb[2] * bb[3], "iscrowd": 0})  # fmt: skip
        copies = np.repeat(np.arange(n), rng.integers(0, 4, n))  # 0-3 detections per object (duplicates)
        pb = boxes[copies] + rng.normal(0, 6, (len(copies), 4))
        pc = np.where(rng.random(len(copies)) < 0.9, cls[copies], rng.integers(0, nc, len(copies)))
        nb = rng.random((4, 2)) * 500
        pb, pc = np.concatenate((pb, np.concatenate((nb, nb + 40), 1))), np.concatenate((pc, rng.integers(0, nc, 4)))
        pred = np.concatenate((pb, rng.random((len(pb), 1)), pc[:, None]), 1)
        labels.append((cls, boxes))
        preds.append(pred[np.argsort(-pred[:, 4])])
    gt = {"images": images, "annotations": anns, "categories": [{"id": c, "name": str(c)} for c in range(nc)]}
    return gt, labels, preds, [im["id"] for im in images]


@pytest.mark.parametrize("seed", [0, 1])
def test_ours_equals_pycocotools_with_its_interpolation(seed: int) -> None:
    gt, labels, preds, ids = _synthetic(seed=seed)
    dt = predictions_to_coco_json(preds, ids, box_decimals=None, score_decimals=None)
    ref = evaluate_with_pycocotools(gt, dt)
    same = DetectionStats(nc=5, method="coco")
    same.update(preds, labels)
    m = same.compute()
    assert m.box.map == pytest.approx(ref["map"], abs=1e-6)
    assert m.box.map50 == pytest.approx(ref["map50"], abs=1e-6)
    assert m.box.map75 == pytest.approx(ref["map75"], abs=1e-6)
    ours = DetectionStats(nc=5)  # default quadrature: close, not equal (metrics.coco docstring)
    ours.update(preds, labels)
    assert abs(ours.compute().box.map - ref["map"]) < 0.01


def test_pycocotools_edge_cases() -> None:
    gt, labels, _, ids = _synthetic(n_images=3, seed=3)
    perfect = [np.concatenate((b, np.ones((len(b), 1)), c[:, None]), 1) for c, b in labels]
    res = evaluate_with_pycocotools(gt, predictions_to_coco_json(perfect, ids, box_decimals=None))
    assert res["map"] == pytest.approx(1.0) and res["map50"] == pytest.approx(1.0)
    assert evaluate_with_pycocotools(gt, []) == {"map": 0.0, "map50": 0.0, "map75": 0.0}
