"""Val mode: Ultralytics' numbers reproduced, and end-of-training validation equal to standalone validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from yoloforge import YOLO

# ../shared/fixtures/ultralytics/README.md: Ultralytics' validator on this checkpoint, coco128 train2017 as val
ULTRALYTICS = {16: {"metrics/precision(B)": 0.485832, "metrics/recall(B)": 0.137397, "metrics/mAP50(B)": 0.170097,
                  "metrics/mAP50-95(B)": 0.087369}}  # fmt: skip


@pytest.fixture(scope="module")
def trainval(tmp_path_factory: pytest.TempPathFactory, coco128_dir: Path) -> Path:
    """coco128 whose val split is train2017 (the fixture's overfit check), copied so caches land in tmp."""
    root = tmp_path_factory.mktemp("c128") / "coco128"
    shutil.copytree(coco128_dir, root, ignore=shutil.ignore_patterns("*.cache"))
    text = (root / "coco128.yaml").read_text().replace("val: images/val2017", "val: images/train2017")
    (root / "trainval.yaml").write_text(text)
    return root / "trainval.yaml"


def test_ultralytics_checkpoint_metrics_reproduced(trainval: Path, fixtures_dir: Path) -> None:
    model = YOLO(str(fixtures_dir / "yolo11n-coco128-overfit160.pt"))
    metrics = model.val(data=str(trainval), imgsz=160, batch=16, conf=0.001, iou=0.7, workers=0, plots=False)
    for key, want in ULTRALYTICS[16].items():
        assert metrics.results_dict[key] == pytest.approx(want, abs=0.002), key
    assert int(metrics.nt_per_class.sum()) == 929


def test_final_validation_equals_standalone_validation(trainval: Path, fixtures_dir: Path, tmp_path: Path) -> None:
    subset = trainval.parent / "subset.yaml"
    images = sorted((trainval.parent / "images/train2017").glob("*.jpg"))[:12]
    (trainval.parent / "subset.txt").write_text("\n".join(str(p) for p in images))
    names = trainval.read_text().split("names:", 1)[1]
    subset.write_text(f"path: .\ntrain: subset.txt\nval: subset.txt\nnames:{names}")
    start = tmp_path / "start.pt"
    shutil.copy(fixtures_dir / "yolo11n-coco128-overfit160.pt", start)
    settings = {"data": str(subset), "imgsz": 160, "batch": 4, "workers": 0}
    trained = YOLO(str(start))
    final = trained.train(**settings, epochs=1, lr0=1e-4, warmup_epochs=0, mosaic=0.0, project=str(tmp_path),
                          name="t", plots=False, verbose=False)  # fmt: skip
    standalone = YOLO(str(tmp_path / "t" / "weights" / "best.pt")).val(**settings, plots=False)
    assert final["metrics/mAP50(B)"] > 0  # a real model, so equality is not 0 == 0
    assert standalone.results_dict == pytest.approx(final.results_dict, abs=1e-9)


def test_save_json_writes_coco_files_and_pycocotools_agrees(trainval: Path, fixtures_dir: Path, tmp_path: Path) -> None:
    import json

    model = YOLO(str(fixtures_dir / "yolo11n-coco128-overfit160.pt"))
    metrics = model.val(data=str(trainval), imgsz=160, batch=16, workers=0, save_json=True, plots=True,
                        project=str(tmp_path), name="v")  # fmt: skip
    run = tmp_path / "v"
    preds = json.loads((run / "predictions.json").read_text())
    gt = json.loads((run / "ground_truth.json").read_text())
    assert len(gt["images"]) == 128 and len(gt["annotations"]) == 929
    assert {"image_id", "category_id", "bbox", "score"} <= set(preds[0])
    # the documented definitional gap (trapezoid vs 101-point mean) stays small
    assert abs(metrics.coco["map"] - metrics.box.map) < 0.002
    assert abs(metrics.coco["map50"] - metrics.box.map50) < 0.004
    for png in ("PR_curve.png", "F1_curve.png", "confusion_matrix_normalized.png", "val_batch0_pred.jpg"):
        assert (run / png).stat().st_size > 10_000, png
