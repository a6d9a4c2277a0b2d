"""Checkpoints written by Ultralytics 8.x load without their code and give their outputs exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from yoloforge import YOLO
from yoloforge.nn.checkpoint import load_checkpoint
from yoloforge.nn.pickle_scan import pickle_bytes, pickle_globals

FIXTURES = ["yolo11n-random", "yolov8n-random", "yolo11n-coco128-overfit160"]


@pytest.mark.parametrize("name", FIXTURES)
def test_outputs_match_ultralytics(fixtures_dir: Path, name: str) -> None:
    model = YOLO(str(fixtures_dir / f"{name}.pt")).model
    io = torch.load(fixtures_dir / f"{name}-io.pt", weights_only=True)
    with torch.no_grad():
        out = model(io["input"])
    assert out.shape == io["output"].shape
    assert (out[:, :4] - io["output"][:, :4]).abs().max() < 1e-3  # boxes, in pixels
    assert (out[:, 4:] - io["output"][:, 4:]).abs().max() < 1e-3  # class probabilities


def test_import_reads_names_and_args_and_imports_no_code(fixtures_dir: Path) -> None:
    import sys

    path = fixtures_dir / "yolo11n-coco128-overfit160.pt"
    assert any(g.startswith("ultralytics.") for g in pickle_globals(pickle_bytes(path)))
    ckpt = load_checkpoint(path)
    assert not any(m.startswith("ultralytics") for m in sys.modules)
    assert ckpt["model"]["names"][0] == "person" and len(ckpt["model"]["names"]) == 80
    assert ckpt["args"]["epochs"] == 150 and ckpt["args"]["imgsz"] == 160
    assert ckpt["source"]["format"] == "ultralytics"


def test_converted_checkpoint_is_ours_and_equal(fixtures_dir: Path, tmp_path: Path) -> None:
    theirs = YOLO(str(fixtures_dir / "yolov8n-random.pt"))
    ours_path = theirs.save(tmp_path / "converted.pt")
    assert torch.load(ours_path, weights_only=True)["format"] == "yoloforge.checkpoint"
    ours = YOLO(str(ours_path))
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(theirs.model(x), ours.model(x))


def test_load_transfers_matching_tensors(fixtures_dir: Path) -> None:
    same = YOLO("yolo11n.yaml").load(fixtures_dir / "yolo11n-random.pt")
    assert same.transferred[0] == same.transferred[1]
    other = YOLO("yolov8n.yaml").load(fixtures_dir / "yolo11n-random.pt")
    moved, total = other.transferred
    assert 0 < moved < total
    src = load_checkpoint(fixtures_dir / "yolo11n-random.pt")["model"]["state_dict"]
    assert torch.equal(other.model.state_dict()["model.0.conv.weight"], src["model.0.conv.weight"])


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("yolo11n-coco128-overfit160", "yolo11n.yaml"),
        ("yolo11n-random", "yolo11n.yaml"),
        ("yolov8n-random", "yolov8n.yaml"),
    ],
)
def test_imported_state_dict_matches_our_builder(fixtures_dir: Path, name: str, config: str) -> None:
    from yoloforge.nn.builder import build_model

    weights = load_checkpoint(fixtures_dir / f"{name}.pt")["model"]["state_dict"]
    ours = build_model(config).state_dict()
    assert list(weights) == list(ours)
    assert all(weights[k].shape == ours[k].shape for k in ours)


def test_imported_trained_model_fuses_to_the_same_outputs(fixtures_dir: Path) -> None:
    name = "yolo11n-coco128-overfit160"
    model = YOLO(str(fixtures_dir / f"{name}.pt")).model.eval()
    io = torch.load(fixtures_dir / f"{name}-io.pt", weights_only=True)
    with torch.no_grad():
        fused = model.fuse()(io["input"])
    assert fused.shape == io["output"].shape
    assert (fused - io["output"]).abs().max() < 1e-3
