"""Exports of the trained (Ultralytics-imported) yolo11n run like the PyTorch model, on real coco128 images.

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


def test_onnx_metadata_props_in_ultralytics_convention(exported: dict[str, Path], trained) -> None:
    """The raw strings: plain text, digits for stride/batch, Python literals for names and imgsz."""
    import ast

    import onnx

    props = {p.key: p.value for p in onnx.load(str(exported["onnx"])).metadata_props}
    assert props["task"] == "detect" and props["format"] == "onnx" and props["version"] == __version__
    assert props["stride"] == "32" and props["batch"] == "2"
    assert props["imgsz"] == f"[{IMGSZ}, {IMGSZ}]"
    assert props["names"].startswith("{0: 'person', 1: 'bicycle', 2: 'car', ")
    assert ast.literal_eval(props["names"]) == trained.names
    assert props["dynamic"] == "False" and props["half"] == "False" and props["strides"] == "[8, 16, 32]"
    assert not any(v.startswith('"') for v in props.values()), props  # nothing JSON-quoted any more


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load/save: the format under test
def test_torchscript_and_openvino_metadata_files(exported: dict[str, Path], trained) -> None:
    """TorchScript: JSON in the extra file `config.txt`; OpenVINO: metadata.yaml with int class ids."""
    import json

    import yaml

    extra = {"config.txt": ""}
    torch.jit.load(str(exported["torchscript"]), _extra_files=extra)
    raw = json.loads(extra["config.txt"])
    assert (raw["task"], raw["stride"], raw["batch"], raw["imgsz"]) == ("detect", 32, 2, [IMGSZ, IMGSZ])
    assert raw["names"]["0"] == "person" and len(raw["names"]) == 80
    meta = yaml.safe_load((exported["openvino"] / "metadata.yaml").read_text())
    assert meta["names"][0] == "person" and meta["stride"] == 32 and meta["imgsz"] == [IMGSZ, IMGSZ]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.load/save: the format under test
def test_files_in_our_earlier_metadata_format_still_load(exported: dict[str, Path], tmp_path: Path, trained) -> None:
    """format_version 1: every ONNX value a JSON string, TorchScript metadata in `config.json`."""
    import json

    import onnx

    proto = onnx.load(str(exported["onnx"]))
    old = {"format_version": 1, "writer": "yoloforge.export", "task": "detect", "stride": 32, "batch": 2,
           "imgsz": [IMGSZ, IMGSZ], "names": {str(k): v for k, v in trained.names.items()}, "version": "0.1.0",
           "dynamic": False, "half": False, "format": "onnx"}  # fmt: skip
    del proto.metadata_props[:]
    for k, v in old.items():
        proto.metadata_props.add(key=k, value=json.dumps(v))
    onnx.save(proto, str(tmp_path / "old.onnx"))
    b = load_backend(tmp_path / "old.onnx")
    assert (b.names, b.stride, b.imgsz, b.task, b.meta.version) == (
        trained.names,
        32,
        (IMGSZ, IMGSZ),
        "detect",
        "0.1.0",
    )

    module = torch.jit.load(str(exported["torchscript"]))
    torch.jit.save(module, str(tmp_path / "old.torchscript"), _extra_files={"config.json": json.dumps(old)})
    ts = load_backend(tmp_path / "old.torchscript")
    assert (ts.names, ts.stride, ts.imgsz, ts.task) == (trained.names, 32, (IMGSZ, IMGSZ), "detect")
