"""`make demo` (scripts/demo.py), both paths, as real processes, shortened to 1 epoch at imgsz 64.

Online: the weights come from a real HTTP server on 127.0.0.1 standing in for Ultralytics' release (it
serves the shared fixture checkpoint written by Ultralytics as yolo11n.pt). Offline: nothing answers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from tests.http_files import serve
from yoloforge.nn.checkpoint import FORMAT

REPO = Path(__file__).resolve().parents[1]


def demo(tmp_path: Path, weights_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "YOLOFORGE_WEIGHTS_URL": weights_url, "YOLOFORGE_WEIGHTS_DIR": str(tmp_path / "weights")}
    cmd = [sys.executable, "scripts/demo.py", "--epochs", "1", "--imgsz", "64", "--project", str(tmp_path / "demo")]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_online_the_demo_fine_tunes_the_pretrained_yolo11n(tmp_path: Path, fixtures_dir: Path) -> None:
    with serve({"yolo11n.pt": fixtures_dir / "yolo11n-random.pt"}) as server:
        r = demo(tmp_path, server.base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "make demo: fine-tuning Ultralytics' pretrained yolo11n.pt on coco8" in r.stdout
    assert "$ yoloforge detect train data=coco8.yaml" in r.stdout and "model=yolo11n.pt" in r.stdout
    assert server.requests == ["yolo11n.pt"]
    assert torch.load(tmp_path / "weights/yolo11n.pt", weights_only=True)["format"] == FORMAT
    assert "Transferred 499/499 tensors" in r.stderr  # every tensor of the pretrained model is used
    assert (tmp_path / "demo/coco8-finetune/weights/best.pt").is_file()


def test_offline_the_demo_says_why_in_one_line_and_trains_from_scratch(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = demo(tmp_path, dead)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("make demo:")]
    assert len(lines) == 1 and lines[0].startswith("make demo: offline, training YOLO11n from scratch"), r.stdout
    assert f"could not fetch yolo11n.pt from {dead}/yolo11n.pt" in lines[0]
    assert str(tmp_path / "weights" / "yolo11n.pt") in lines[0]
    spec = yaml.safe_load((tmp_path / "demo/coco8-train-as-val.yaml").read_text())
    assert spec["val"] == spec["train"] == "images/train" and Path(spec["path"], "images/train").is_dir()
    assert "model=yolo11n.yaml" in r.stdout and (tmp_path / "demo/coco8/results.png").is_file()
