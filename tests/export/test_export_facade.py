"""Exported files through the YOLO facade: predict and val give the same results as the .pt they came from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from yoloforge import YOLO
from yoloforge.errors import ConfigError

IMAGES = ["000000000030.jpg", "000000000143.jpg", "000000000263.jpg", "000000000387.jpg", "000000000542.jpg",
          "000000000009.jpg"]  # fmt: skip


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory, coco128_dir: Path, fixtures_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export_facade")
    for sub in ("images", "labels"):
        (root / "ds" / sub).mkdir(parents=True)
    for name in IMAGES:
        shutil.copy(coco128_dir / "images/train2017" / name, root / "ds/images" / name)
        shutil.copy(coco128_dir / "labels/train2017" / name.replace(".jpg", ".txt"), root / "ds/labels")
    names = (coco128_dir / "coco128.yaml").read_text().split("names:", 1)[1]
    (root / "ds.yaml").write_text(f"path: ds\ntrain: images\nval: images\nnames:{names}")
    pt = root / "best.pt"
    shutil.copy(fixtures_dir / "yolo11n-coco128-overfit160.pt", pt)
    return {"root": root, "pt": pt, "data": root / "ds.yaml", "images": root / "ds/images"}


@pytest.mark.parametrize(("fmt", "dynamic"), [("onnx", True), ("onnx", False), ("torchscript", False)])
def test_exported_predict_and_val_match_the_checkpoint(small_set: dict[str, Path], fmt: str, dynamic: bool) -> None:
    pt = YOLO(str(small_set["pt"]))
    exported = Path(pt.export(format=fmt, imgsz=160, dynamic=dynamic))
    ex = YOLO(str(exported))
    assert ex.names == pt.names and "nc=80" in repr(ex)
    # batch=2 over images of different shapes: both letterbox to the full 160x160 square, as a fixed export must
    common = {"imgsz": 160, "verbose": False, "batch": 1 if dynamic else 2}
    for a, b in zip(pt.predict(str(small_set["images"]), **common), ex.predict(str(small_set["images"]), **common),
                    strict=True):  # fmt: skip
        assert len(a.boxes) == len(b.boxes)
        torch.testing.assert_close(a.boxes.xyxy, b.boxes.xyxy, rtol=0, atol=1e-2)
        assert torch.equal(a.boxes.cls, b.boxes.cls)
    val = {"data": str(small_set["data"]), "imgsz": 160, "batch": 2, "workers": 0, "plots": False, "verbose": False}
    ref, got = pt.val(**val).results_dict, ex.val(**val).results_dict
    if dynamic or fmt == "torchscript":  # any input size: the same rect batches as the .pt
        for k in ref:
            assert got[k] == pytest.approx(ref[k], abs=1e-4), k
    else:  # a fixed 160x160 input: square letterbox instead of rect batches, so close but not identical
        assert got["metrics/mAP50-95(B)"] == pytest.approx(ref["metrics/mAP50-95(B)"], abs=0.05)


def test_exported_models_refuse_training(small_set: dict[str, Path]) -> None:
    onnx = YOLO(str(small_set["pt"])).export(format="onnx", imgsz=160)
    with pytest.raises(ConfigError, match="exported model"):
        YOLO(str(onnx)).train(data="coco8.yaml")
