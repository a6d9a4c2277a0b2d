"""A run stopped by SIGKILL or SIGTERM resumes and ends bit-for-bit like an unbroken run.

SIGKILL loses the epoch in progress (last.pt holds the last completed epoch); SIGTERM is a graceful stop
after the current batch, whose last.pt holds the position inside the epoch, pending gradients included.
The settings make every epoch two batches with one optimizer step at its end (batch=2 of coco8's 4 train
images, nbs=4, no warmup), so a stop after an epoch's first batch leaves accumulated gradients behind.
"""

from __future__ import annotations

import random
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
from yoloforge.engine.train.stop import TrainingStopped
project, name, sig, at = sys.argv[1], sys.argv[2], getattr(signal, sys.argv[3]), int(sys.argv[4])
yolo = YOLO("yolo11n.yaml")
seen = [0]
def send(trainer):
    seen[0] += 1
    if seen[0] == at:
        os.kill(os.getpid(), sig)
yolo.add_callback("on_train_batch_end", send)
try:
    yolo.train(data="coco8.yaml", epochs=3, imgsz=64, batch=2, nbs=4, warmup_epochs=0, workers=0, device="cpu",
               project=project, name=name, plots=False, verbose=False, deterministic=True, seed=3)
except TrainingStopped as e:
    print(e.resume_command)
    sys.exit(e.exit_code)
"""
BATCHES = 6  # 3 epochs x 2 batches


def run(project: Path, name: str, sig: str = "SIGKILL", at: int = 0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(project), name, sig, str(at)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def state(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The tensors that must match bitwise: raw weights, EMA weights, and every optimizer state tensor."""
    ckpt = torch.load(path, weights_only=True)
    opt = {f"{i}.{k}": v for i, s in ckpt["optimizer"]["state"].items() for k, v in s.items() if torch.is_tensor(v)}
    return {"train": ckpt["train_weights"], "ema": ckpt["model"]["state_dict"], "optimizer": opt}


def assert_bitwise_equal(ours: Path, reference: Path, note: str = "") -> None:
    a, b = state(ours), state(reference)
    for part in ("train", "ema", "optimizer"):
        assert a[part].keys() == b[part].keys() and len(b[part]) > 0
        for k in b[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{note}: {part} {k} differs"


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("unbroken")
    r = run(project, "run")
    assert r.returncode == 0, r.stderr
    return project / "run" / "weights" / "last.pt"


@pytest.mark.parametrize("kill_at", [3, 4])  # mid-epoch 2, and after its last batch
def test_sigkill_then_resume_is_bitwise_equal(unbroken: Path, tmp_path: Path, kill_at: int) -> None:
    r = run(tmp_path, "run", "SIGKILL", kill_at)
    assert r.returncode == -signal.SIGKILL
    last = tmp_path / "run" / "weights" / "last.pt"
    assert torch.load(last, weights_only=True)["epoch"] == 0  # the last completed epoch survived the kill
    assert not list((tmp_path / "run" / "weights").glob(".*tmp"))  # no half-written file left behind
    YOLO(str(last)).train(resume=True)
    assert_bitwise_equal(last, unbroken)
    rows = (tmp_path / "run" / "results.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


@pytest.mark.parametrize("kind", ["mid-epoch", "epoch-end"])
def test_sigterm_at_a_random_batch_then_resume_is_bitwise_equal(unbroken: Path, tmp_path: Path, kind: str) -> None:
    """SIGTERM after a random batch: exit 143, a last.pt at that batch, and a resume equal to the unbroken run."""
    choices = range(1, BATCHES + 1, 2) if kind == "mid-epoch" else range(2, BATCHES + 1, 2)
    at = random.choice(list(choices))  # a mid-epoch stop leaves gradients pending; an epoch-end one, validation
    note = f"SIGTERM after batch {at} of {BATCHES}"
    r = run(tmp_path, "run", "SIGTERM", at)
    assert r.returncode == 143, f"{note}: {r.stderr[-2000:]}"
    last = (tmp_path / "run" / "weights" / "last.pt").resolve()
    assert r.stdout.strip() == f"yoloforge train resume model={last}", note
    assert "SIGTERM received" in r.stderr and f"resume with: yoloforge train resume model={last}" in r.stderr
    saved = torch.load(last, weights_only=True)
    epoch, batch = divmod(at - 1, 2)
    assert saved["position"]["epoch"] == epoch and saved["position"]["batch"] == batch + 1, note
    assert saved["epoch"] == epoch - 1, note  # the last completed epoch
    assert (saved["position"]["grads"] is not None) == (kind == "mid-epoch"), note
    YOLO(str(last)).train(resume=True)
    assert_bitwise_equal(last, unbroken, note)
    ours, reference = torch.load(last, weights_only=True), torch.load(unbroken, weights_only=True)
    assert ours["optimizer_steps"] == reference["optimizer_steps"] == 3 and ours["position"] is None
    assert ours["train_metrics"] == reference["train_metrics"], note
    rows = (tmp_path / "run" / "results.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]


def test_resume_may_raise_epochs_and_override_device(unbroken: Path, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(unbroken.parent.parent, run_dir)
    YOLO(str(run_dir / "weights" / "last.pt")).train(resume=True, epochs=4, device="cpu", workers=0, lr0=0.5)
    ckpt = torch.load(run_dir / "weights" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 3 and ckpt["args"]["epochs"] == 4 and ckpt["args"]["lr0"] == 0.01
