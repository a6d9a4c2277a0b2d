"""The COCO ground truth built from verified labels, and image ids that stay unique."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yoloforge.data.labels import load_labels
from yoloforge.metrics.coco import image_ids_for, labels_to_coco_gt, read_yolo_labels


def test_ground_truth_from_verified_labels(tmp_path: Path) -> None:
    """Duplicates removed, the BOM read, classes= applied: the ground truth holds what the verifier kept."""
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for name, size in (("000000000007", (50, 200)), ("bg", (10, 10))):
        assert cv2.imwrite(str(tmp_path / "images" / f"{name}.png"), np.zeros((*size, 3), np.uint8))
    text = "1 0.5 0.5 0.5 0.2\r\n1 0.5 0.5 0.5 0.2\r\n0 0.1 0.1 0.3 0.1 0.3 0.5\r\n"
    (tmp_path / "labels" / "000000000007.txt").write_bytes(b"\xef\xbb\xbf" + text.encode())
    files = sorted(str(p) for p in (tmp_path / "images").iterdir())
    labels, _ = load_labels(files, 2, classes=[1], cache=False)
    gt = labels_to_coco_gt(labels, ["a", "b"])
    assert gt["images"] == [
        {"id": 7, "file_name": "000000000007.png", "width": 200, "height": 50},
        {"id": "bg", "file_name": "bg.png", "width": 10, "height": 10},
    ]
    (ann,) = gt["annotations"]  # the duplicate and the class-0 polygon are gone
    assert ann["id"] == 1 and ann["image_id"] == 7 and ann["category_id"] == 1 and ann["iscrowd"] == 0
    assert np.allclose(ann["bbox"], [50, 20, 100, 10]) and ann["area"] == pytest.approx(1000)
    cls, xywhn = read_yolo_labels(tmp_path / "labels" / "000000000007.txt")  # the raw reader takes the BOM too
    assert cls.tolist() == [1, 1, 0] and xywhn.shape == (3, 4)


def test_image_ids_are_stems_unless_two_collide() -> None:
    assert image_ids_for(["/a/000000000042.jpg", "/a/cat.jpg"]) == {"/a/000000000042.jpg": 42, "/a/cat.jpg": "cat"}
    assert image_ids_for(["/a/x.jpg", "/b/x.jpg", "/b/y.jpg"]) == {"/a/x.jpg": 1, "/b/x.jpg": 2, "/b/y.jpg": 3}
