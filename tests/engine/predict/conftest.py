"""Fixtures of the predict tests: the overfit Ultralytics fixture model and the coco128 images it was trained on."""

from __future__ import annotations

from pathlib import Path

import pytest

from yoloforge import YOLO


@pytest.fixture(scope="module")
def yolo(fixtures_dir: Path) -> YOLO:
    """yolo11n trained by Ultralytics to overfit coco128 at 160: confident, known detections."""
    return YOLO(fixtures_dir / "yolo11n-coco128-overfit160.pt")


@pytest.fixture(scope="module")
def images(coco128_dir: Path) -> Path:
    """coco128's image folder (read-only)."""
    return coco128_dir / "images" / "train2017"
