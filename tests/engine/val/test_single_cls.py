"""single_cls: labels, predictions, class count and names all become one class, 'item' (ultralytics#19710)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from yoloforge import YOLO
from yoloforge.nn.checkpoint import load_checkpoint

VAL = {"imgsz": 160, "batch": 8, "workers": 0, "device": "cpu", "plots": False, "verbose": False}


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory, coco128_dir: Path) -> Path:
    """16 coco128 images (persons, cars, dogs and more), train = val, with coco128's 80 names."""
    root = tmp_path_factory.mktemp("mini")
    for im in sorted((coco128_dir / "images" / "train2017").glob("*.jpg"))[:16]:
        for kind, ext in (("images", ".jpg"), ("labels", ".txt")):
            src = coco128_dir / kind / "train2017" / f"{im.stem}{ext}"
            if src.exists():
                (root / kind / "s").mkdir(parents=True, exist_ok=True)
                shutil.copy(src, root / kind / "s" / src.name)
    names = yaml.safe_load((coco128_dir / "coco128.yaml").read_text())["names"]
    spec = {"path": ".", "train": "images/s", "val": "images/s", "names": names}
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root / "data.yaml"


def test_predictions_are_collapsed_like_the_labels(mini: Path, fixtures_dir: Path) -> None:
    """The class-agnostic mAP equals the one computed from a model whose class scores are folded into class 0."""
    model = YOLO(str(fixtures_dir / "yolo11n-coco128-overfit160.pt"))
    aware = model.val(data=str(mini), **VAL)
    merged = model.val(data=str(mini), single_cls=True, **VAL)
    assert merged.names == {0: "item"} and [r["class"] for r in merged.class_table()] == ["all", "item"]
    assert int(merged.nt_per_class.sum()) == int(aware.nt_per_class.sum())

    forward = model.model.forward

    def folded(x: torch.Tensor) -> torch.Tensor:  # eval output (B, 4 + nc, A): every box scored as class 0
        y = forward(x)
        y[:, 4] = y[:, 4:].max(1).values
        y[:, 5:] = 0
        return y

    model.model.forward = folded
    reference = model.val(data=str(mini), single_cls=True, **VAL)
    assert merged.box.map50 == pytest.approx(reference.box.map50, abs=1e-3)
    assert merged.box.map == pytest.approx(reference.box.map, abs=1e-3)
    assert merged.box.map50 > 0.05  # a real figure, not 0 == 0


def test_a_single_cls_run_trains_one_class_named_item(mini: Path, tmp_path: Path) -> None:
    yolo = YOLO("yolo11n.yaml")
    yolo.train(data=str(mini), epochs=1, single_cls=True, project=str(tmp_path), name="t", **{**VAL, "imgsz": 64})
    best = load_checkpoint(tmp_path / "t" / "weights" / "best.pt")
    assert best["model"]["names"] == {0: "item"} and best["model"]["yaml"]["nc"] == 1
    metrics = YOLO(str(tmp_path / "t" / "weights" / "best.pt")).val(data=str(mini), **{**VAL, "imgsz": 64})
    rows = sum(len(f.read_text().split("\n")) - 1 for f in (mini.parent / "labels" / "s").glob("*.txt"))
    assert metrics.names == {0: "item"} and metrics.nt_per_class.tolist() == [rows]  # single_cls came from the run
