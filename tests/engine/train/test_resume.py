"""A run killed with SIGKILL resumes from its last completed epoch and ends bit-for-bit like an unbroken run."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from yoloforge import YOLO

SCRIPT = """
import os, signal, sys
from yoloforge import YOLO
project, name, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
yolo = YOLO("yolo11n.yaml")
seen = [0]
def kill_now(trainer):
    seen[0] += 1
    if seen[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
yolo.add_callback("on_train_batch_end", kill_now)
yolo.train(data="coco8.yaml", epochs=3, imgsz=64, batch=2, workers=0, device="cpu", project=project, name=name,
           plots=False, verbose=False, deterministic=True, seed=3)
"""


def run(project: Path, name: str, kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(project), name, str(kill_at)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def state(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    ckpt = torch.load(path, weights_only=True)
    opt = {f"{i}.{k}": v for i, s in ckpt["optimizer"]["state"].items() for k, v in s.items() if torch.is_tensor(v)}
    return {"train": ckpt["train_weights"], "ema": ckpt["model"]["state_dict"], "optimizer": opt}


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("unbroken")
    r = run(project, "run", kill_at=0)
    assert r.returncode == 0, r.stderr
    return project / "run" / "weights" / "last.pt"


@pytest.mark.parametrize("kill_at", [3, 4])  # 2 batches per epoch: mid-epoch 2, and after its last batch
def test_sigkill_then_resume_is_bitwise_equal(unbroken: Path, tmp_path: Path, kill_at: int) -> None:
    r = run(tmp_path, "run", kill_at)
    assert r.returncode == -signal.SIGKILL
    last = tmp_path / "run" / "weights" / "last.pt"
    assert torch.load(last, weights_only=True)["epoch"] == 0  # the last completed epoch survived the kill
    assert not list((tmp_path / "run" / "weights").glob(".*tmp"))  # no half-written file left behind
    YOLO(str(last)).train(resume=True)
    ours, reference = state(last), state(unbroken)
    for part in ("train", "ema", "optimizer"):
        assert ours[part].keys() == reference[part].keys()
        for k in reference[part]:
            assert torch.equal(ours[part][k], reference[part][k]), f"{part} {k} differs"
    rows = (tmp_path / "run" / "results.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


def test_resume_may_raise_epochs_and_override_device(unbroken: Path, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(unbroken.parent.parent, run_dir)
    YOLO(str(run_dir / "weights" / "last.pt")).train(resume=True, epochs=4, device="cpu", workers=0, lr0=0.5)
    ckpt = torch.load(run_dir / "weights" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 3 and ckpt["args"]["epochs"] == 4 and ckpt["args"]["lr0"] == 0.01
