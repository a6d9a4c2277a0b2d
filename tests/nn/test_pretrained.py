"""Pretrained weights by name (model=yolo11n.pt) against a real HTTP server on 127.0.0.1.

The server plays Ultralytics' release assets (or a mirror named by YOLOFORGE_WEIGHTS_URL), serving the
shared fixture checkpoints written by Ultralytics under the published names.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.http_files import serve
from yoloforge import YOLO
from yoloforge.errors import CheckpointError
from yoloforge.nn import pretrained
from yoloforge.nn.checkpoint import FORMAT
from yoloforge.nn.pretrained import URL_ENV, WeightsDownloadError, weights_url

NOTICE = "published by Ultralytics under the AGPL-3.0 license"


@pytest.fixture
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights folder (user setting weights_dir), a working folder without .pt files, notices reset."""
    folder = tmp_path / "weights"
    monkeypatch.setenv("YOLOFORGE_WEIGHTS_DIR", str(folder))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(pretrained, "_noticed", set())
    return folder


@pytest.fixture
def assets(fixtures_dir: Path) -> dict[str, Path]:
    return {"yolo11n.pt": fixtures_dir / "yolo11n-random.pt", "yolov8n.pt": fixtures_dir / "yolov8n-random.pt"}


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_the_default_source_is_ultralytics_release_asset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    assert weights_url("yolo11n.pt") == "https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11n.pt"
    assert weights_url("yolov8x.pt") == "https://github.com/ultralytics/assets/releases/download/v8.3.0/yolov8x.pt"
    monkeypatch.setenv(URL_ENV, "http://mirror.local/weights/")
    assert weights_url("yolo11s.pt") == "http://mirror.local/weights/yolo11s.pt"


def test_download_convert_keep_and_reuse(
    weights_dir: Path, assets: dict[str, Path], fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    io = torch.load(fixtures_dir / "yolo11n-random-io.pt", weights_only=True)
    with serve(assets) as server, caplog.at_level(logging.INFO, logger="yoloforge"):
        monkeypatch.setenv(URL_ENV, server.base)
        model = YOLO("yolo11n.pt")
        kept = weights_dir / "yolo11n.pt"
        assert server.requests == ["yolo11n.pt"] and model.source == str(kept)
        mtime = kept.stat().st_mtime_ns
        again = YOLO("yolo11n.pt")  # kept: no download, no conversion
        assert server.requests == ["yolo11n.pt"] and kept.stat().st_mtime_ns == mtime
    ckpt = torch.load(kept, weights_only=True)  # a plain yoloforge checkpoint: tensors and data only
    assert ckpt["format"] == FORMAT and ckpt["source"]["license"] == "AGPL-3.0"
    assert ckpt["source"]["url"] == f"{server.base}/yolo11n.pt"
    assert ckpt["source"]["sha256"] == hashlib.sha256(assets["yolo11n.pt"].read_bytes()).hexdigest()
    assert not list((weights_dir / ".downloads").iterdir()), "the raw download was not removed"
    with torch.no_grad():
        out = again.model.eval()(io["input"])
    torch.testing.assert_close(out[0] if isinstance(out, tuple) else out, io["output"], rtol=1e-4, atol=1e-2)
    assert len({id(r) for r in caplog.records if NOTICE in r.getMessage()}) == 1  # said once


def test_pretrained_by_name_on_a_yaml_model(
    weights_dir: Path, assets: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    with serve(assets) as server, caplog.at_level(logging.INFO, logger="yoloforge"):
        monkeypatch.setenv(URL_ENV, server.base)
        assert YOLO("yolov8n.yaml").load("yolov8n.pt").transferred == (355, 355)
        metrics = YOLO("yolov8n.yaml").train(data="coco8.yaml", pretrained="yolov8n.pt", epochs=1, imgsz=64,
                                             batch=4, workers=0, device="cpu", plots=False, project=str(tmp_path),
                                             name="ft", warmup_epochs=0)  # fmt: skip
    assert server.requests == ["yolov8n.pt"]  # downloaded once, then the kept file
    args = (tmp_path / "ft" / "args.yaml").read_text()
    assert f"pretrained: {weights_dir / 'yolov8n.pt'}" in args
    assert "Transferred 355/355 tensors" in caplog.text and metrics.save_dir == tmp_path / "ft"


def test_a_file_put_in_the_weights_folder_by_hand_is_converted_once(
    weights_dir: Path, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, _closed_port_url())  # nothing may be downloaded
    weights_dir.mkdir()
    shutil.copy(fixtures_dir / "yolov8n-random.pt", weights_dir / "yolov8n.pt")
    a = YOLO("yolov8n.pt")
    assert torch.load(weights_dir / "yolov8n.pt", weights_only=True)["format"] == FORMAT
    b = YOLO(fixtures_dir / "yolov8n-random.pt")  # the same weights, imported directly
    for k, v in b.model.state_dict().items():
        assert torch.equal(a.model.state_dict()[k], v), k


def test_a_local_file_of_that_name_wins(weights_dir: Path, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_ENV, _closed_port_url())
    shutil.copy(fixtures_dir / "yolo11n-random.pt", Path.cwd() / "yolo11n.pt")
    assert YOLO("yolo11n.pt").source == "yolo11n.pt" and not weights_dir.exists()


def test_offline_error_names_the_url_and_where_to_put_the_file(
    weights_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = _closed_port_url()
    monkeypatch.setenv(URL_ENV, base)
    with pytest.raises(WeightsDownloadError) as e:
        YOLO("yolo11s.pt")
    msg = str(e.value)
    assert f"{base}/yolo11s.pt" in msg and str(weights_dir / "yolo11s.pt") in msg and "model=yolo11s.yaml" in msg
    r = subprocess.run([sys.executable, "-m", "yoloforge", "info", "model=yolo11s.pt"], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("yoloforge: error: yolo11s.pt is not in the working folder")


def test_a_mirror_serving_something_else_is_refused(
    weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"<html>not a checkpoint</html>")
    with serve({"yolo11m.pt": junk}) as server:
        monkeypatch.setenv(URL_ENV, server.base)
        with pytest.raises(
            CheckpointError, match=r"downloaded from http://127\.0\.0\.1:\d+/yolo11m\.pt is not a usable"
        ):
            YOLO("yolo11m.pt")
    assert not (weights_dir / "yolo11m.pt").exists()
