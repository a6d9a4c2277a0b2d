"""Exports of the trained (incumbent-imported) yolo11n run like the PyTorch model, on real coco128 images.

Static exports at imgsz 160, batch 2; the parity criterion is in tests/export/__init__.py.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
import torch

from tests.export import assert_same_predictions, images_batch
from yoloforge import __version__
from yoloforge.cfg.schema import RunConfig
from yoloforge.engine.export.runtime import load_backend
from yoloforge.errors import YoloforgeError
from yoloforge.export import FORMATS

IMGSZ = 160


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path):
    from yoloforge import YOLO

    ckpt = tmp_path_factory.mktemp("trained") / "best.pt"
    shutil.copy(fixtures_dir / "yolo11n-coco128-overfit160.pt", ckpt)
    return YOLO(ckpt)


@pytest.fixture(scope="module")
def exported(trained) -> dict[str, Path]:
    """Each format exported once, static shape (2, 3, 160, 160), written beside best.pt."""
    from yoloforge.engine.export.exporter import export_model

    return {f: export_model(trained, RunConfig(mode="export", format=f, imgsz=IMGSZ, batch=2)) for f in FORMATS}


@pytest.fixture(scope="module")
def batch(coco128_dir: Path) -> torch.Tensor:
    return images_batch(coco128_dir, IMGSZ)


@pytest.fixture(scope="module")
def reference(trained, batch: torch.Tensor) -> torch.Tensor:
    """The PyTorch model's own output (unfused, as the user holds it)."""
    with torch.no_grad():
        return trained.model.eval()(batch)


@pytest.mark.parametrize("fmt", FORMATS)
def test_outputs_match_pytorch(fmt: str, exported: dict[str, Path], reference: torch.Tensor, batch) -> None:
    assert_same_predictions(load_backend(exported[fmt])(batch), reference)


@pytest.mark.parametrize("fmt", FORMATS)
def test_metadata_read_back(fmt: str, exported: dict[str, Path], trained) -> None:
    b = load_backend(exported[fmt])
    assert b.names == trained.names and len(b.names) == 80
    assert (b.stride, b.imgsz, b.task) == (32, (IMGSZ, IMGSZ), "detect")
    assert b.meta.version == __version__ and b.meta.format == fmt and b.meta.batch == 2
    assert dt.datetime.fromisoformat(b.meta.date).tzinfo is not None
    assert b.meta.extra["source"] == "best.pt" and b.meta.extra["strides"] == [8, 16, 32]
    assert b.dynamic is (fmt == "torchscript")  # a TorchScript trace runs at any shape


def test_files_written_beside_checkpoint(exported: dict[str, Path], trained) -> None:
    folder = Path(trained.source).parent
    assert {p.name for p in exported.values()} == {"best.onnx", "best.torchscript", "best_openvino_model"}
    assert all(p.parent == folder for p in exported.values())
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "temporary files left behind"
    assert sorted(p.name for p in exported["openvino"].iterdir()) == ["best.bin", "best.xml", "metadata.yaml"]
    umask = os.umask(0)
    os.umask(umask)
    assert (exported["onnx"].stat().st_mode & 0o777) == 0o666 & ~umask


def test_static_shape_is_checked(exported: dict[str, Path], batch: torch.Tensor) -> None:
    for fmt in ("onnx", "openvino"):
        with pytest.raises(YoloforgeError, match=r"expects input shape \(2, 3, 160, 160\), got \(1, 3, 160, 160\)"):
            load_backend(exported[fmt])(batch[:1])
    with pytest.raises(YoloforgeError, match=r"expects a float batch scaled to 0\.\.1, got torch\.uint8"):
        load_backend(exported["onnx"])((batch * 255).to(torch.uint8))


def test_torchscript_runs_at_another_size(exported: dict[str, Path], trained, coco128_dir: Path) -> None:
    x = images_batch(coco128_dir, (128, 224))[:1]
    with torch.no_grad():
        ref = trained.model.eval()(x)
    assert_same_predictions(load_backend(exported["torchscript"])(x), ref)


def test_export_leaves_the_model_as_it_was(exported: dict[str, Path], trained) -> None:
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in trained.model.modules()), "the caller's model was fused"
    assert next(trained.model.parameters()).dtype == torch.float32
