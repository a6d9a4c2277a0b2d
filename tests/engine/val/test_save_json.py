"""save_json=True: pycocotools scores the verified labels our metric uses (ultralytics/yolov5#1281, #10966)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from yoloforge import YOLO

VAL = {"imgsz": 160, "batch": 16, "workers": 0, "device": "cpu", "plots": False, "verbose": False}


def _variant(root: Path, coco128_dir: Path, name: str, rewrite) -> Path:
    """12 coco128 images whose label files pass through `rewrite(text) -> bytes`, with coco128's names."""
    ds = root / name
    for im in sorted((coco128_dir / "images" / "train2017").glob("*.jpg"))[:12]:
        (ds / "images" / "v").mkdir(parents=True, exist_ok=True)
        shutil.copy(im, ds / "images" / "v" / im.name)
        label = coco128_dir / "labels" / "train2017" / f"{im.stem}.txt"
        if label.exists():
            (ds / "labels" / "v").mkdir(parents=True, exist_ok=True)
            (ds / "labels" / "v" / label.name).write_bytes(rewrite(label.read_text()))
    names = yaml.safe_load((coco128_dir / "coco128.yaml").read_text())["names"]
    (ds / "data.yaml").write_text(yaml.safe_dump({"path": ".", "train": "images/v", "val": "images/v", "names": names}))
    return ds / "data.yaml"


def _bom_crlf(text: str) -> bytes:
    return b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()


def _doubled(text: str) -> bytes:
    rows = [r for r in text.splitlines() if r.strip()]
    return ("\n".join(rows + rows) + "\n").encode()


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory, coco128_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("savejson")
    return {
        "clean": _variant(root, coco128_dir, "clean", str.encode),
        "duplicated rows": _variant(root, coco128_dir, "dup", _doubled),
        "BOM and CRLF": _variant(root, coco128_dir, "bom", _bom_crlf),
    }


@pytest.fixture(scope="module")
def model(fixtures_dir: Path) -> YOLO:
    return YOLO(str(fixtures_dir / "yolo11n-coco128-overfit160.pt"))


def _val(model: YOLO, data: Path, tmp: Path, **kw) -> tuple[object, dict]:
    m = model.val(data=str(data), save_json=True, project=str(tmp), name="v", exist_ok=True, **VAL, **kw)
    return m, json.loads((tmp / "v" / "ground_truth.json").read_text())


def _close(m) -> bool:
    """pycocotools within the interpolation gap of ours (a wrong ground truth was off by 0.02 to 0.09 here)."""
    return abs(m.coco["map"] - m.box.map) < 0.005 and abs(m.coco["map50"] - m.box.map50) < 0.005


@pytest.mark.parametrize("kind", ["duplicated rows", "BOM and CRLF"])
def test_pycocotools_scores_what_our_metric_scores(
    model: YOLO, datasets: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    clean, clean_gt = _val(model, datasets["clean"], tmp_path / "clean")
    other, gt = _val(model, datasets[kind], tmp_path / "other")
    assert len(gt["annotations"]) == len(clean_gt["annotations"]) == int(clean.nt_per_class.sum())
    assert other.box.map == clean.box.map and other.coco == pytest.approx(clean.coco, abs=1e-12)
    assert 0 < clean.coco["map"] - clean.box.map < 0.002  # the documented interpolation gap, nothing more


def test_classes_and_single_cls_reach_the_coco_ground_truth(
    model: YOLO, datasets: dict[str, Path], tmp_path: Path
) -> None:
    person, gt = _val(model, datasets["clean"], tmp_path / "person", classes=[0])
    assert {a["category_id"] for a in gt["annotations"]} == {1}  # person is COCO category 1
    assert len(gt["annotations"]) == int(person.nt_per_class.sum()) > 0
    assert _close(person)
    one, gt = _val(model, datasets["clean"], tmp_path / "one", single_cls=True)
    assert gt["categories"] == [{"id": 0, "name": "item"}] and {a["category_id"] for a in gt["annotations"]} == {0}
    assert _close(one)
