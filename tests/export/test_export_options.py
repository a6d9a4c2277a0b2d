"""Export options and failure modes: dynamic ONNX, missing runtimes, bad settings, metadata parsing."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch

from tests.export import assert_same_predictions, images_batch
from yoloforge.cfg.schema import RunConfig
from yoloforge.errors import ConfigError, YoloforgeError
from yoloforge.export import MissingDependencyError, publish_dir
from yoloforge.export.metadata import from_strings
from yoloforge.utils.log import LOGGER


@pytest.fixture(scope="module")
def random_yolo():
    from yoloforge import YOLO

    torch.manual_seed(0)
    return YOLO("yolo11n.yaml")


def _export(yolo, **kw) -> Path:
    from yoloforge.engine.export.exporter import export_model

    return export_model(yolo, RunConfig(mode="export", imgsz=160, **kw))


def test_dynamic_onnx_runs_at_two_sizes(random_yolo, tmp_path: Path, monkeypatch, coco128_dir: Path) -> None:
    from yoloforge.engine.export.runtime import load_backend

    monkeypatch.chdir(tmp_path)  # a YAML-built model is written to the current folder, named after it
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    LOGGER.addHandler(handler)
    try:
        path = _export(random_yolo, format="onnx", dynamic=True, half=True)
    finally:
        LOGGER.removeHandler(handler)
    assert path == tmp_path / "yolo11n.onnx"
    assert any("half=True is ignored on cpu" in r.getMessage() for r in records)
    b = load_backend(path)
    assert b.dynamic and b.input_shape == (None, 3, None, None) and not b.meta.half
    model = random_yolo.model.eval()
    for size, n in ((160, 2), ((128, 224), 1)):
        x = images_batch(coco128_dir, size)[:n]
        with torch.no_grad():
            ref = model(x)
        assert_same_predictions(b(x), ref, expect_boxes=False)
    with pytest.raises(YoloforgeError, match="multiples of 32"):
        b(torch.zeros(1, 3, 100, 160))


@pytest.mark.parametrize(("module", "fmt", "extra"), [("onnx", "onnx", "export"), ("openvino", "openvino", "openvino")])
def test_missing_export_runtime_names_the_extra(random_yolo, monkeypatch, module: str, fmt: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=rf"pip install 'yoloforge\[{extra}\]'"):
        _export(random_yolo, format=fmt)


def test_missing_onnxruntime_names_the_extra(monkeypatch, tmp_path: Path) -> None:
    from yoloforge.engine.export.runtime import load_backend

    path = tmp_path / "model.onnx"
    path.write_bytes(b"not opened")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match=r"'onnxruntime'.*pip install 'yoloforge\[export\]'"):
        load_backend(path)


def test_bad_settings_are_config_errors(random_yolo) -> None:
    with pytest.raises(ConfigError, match="format='engine' is not supported: choose one of torchscript, onnx"):
        _export(random_yolo, format="engine")
    with pytest.raises(ConfigError, match=r"opset=99: this torch .* exports ONNX opsets 13-"):
        _export(random_yolo, format="onnx", opset=99)


def test_load_backend_rejects_unknown_files(tmp_path: Path) -> None:
    from yoloforge.engine.export.runtime import is_exported, load_backend

    assert all(map(is_exported, ("a/best.onnx", "best.torchscript", "best_openvino_model", "m/best.xml")))
    assert not any(map(is_exported, ("best.pt", "yolo11n.yaml")))

    with pytest.raises(YoloforgeError, match="exported model not found"):
        load_backend(tmp_path / "missing.onnx")
    (tmp_path / "best.pt").write_bytes(b"x")
    with pytest.raises(YoloforgeError, match="not an exported model"):
        load_backend(tmp_path / "best.pt")


def test_publish_dir_replaces_an_old_export(tmp_path: Path) -> None:
    target, new = tmp_path / "best_openvino_model", tmp_path / ".tmp"
    target.mkdir()
    (target / "old.xml").write_text("old")
    new.mkdir()
    (new / "best.xml").write_text("new")
    publish_dir(new, target)
    assert [p.name for p in target.iterdir()] == ["best.xml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_openvino_model"]


def test_metadata_written_as_python_literals_is_read() -> None:
    """Files from other YOLO exporters store str(dict) values; names, stride and imgsz still come through."""
    meta = from_strings({"names": "{0: 'person', 1: 'bicycle'}", "stride": "32", "imgsz": "[320, 640]",
                         "task": "detect", "batch": "1", "description": "some text"})  # fmt: skip
    assert meta.names == {0: "person", 1: "bicycle"} and meta.stride == 32 and meta.imgsz == (320, 640)
    assert meta.extra["description"] == "some text"
