"""Distributed data-parallel training with 2 gloo processes on CPU."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist

from yoloforge import YOLO
from yoloforge.engine.distributed import DistContext, DistributedRunError, launch

TINY = {"data": "coco8.yaml", "imgsz": 64, "batch": 4, "workers": 0, "plots": False, "verbose": False, "epochs": 2}


def record_event(trainer: Any) -> None:
    """A picklable callback: each rank appends its events to its own file."""
    path = Path(trainer.save_dir) / f"events-rank{max(trainer.ctx.rank, 0)}.txt"
    with path.open("a") as f:
        f.write(f"{trainer.epoch}\n")


def test_two_processes_train_save_once_and_step_like_one(tmp_path: Path) -> None:
    single = YOLO("yolo11n.yaml")
    single.add_callback("on_train_epoch_end", record_event)
    single.train(**TINY, device="cpu", project=str(tmp_path), name="single")
    ddp = YOLO("yolo11n.yaml")
    ddp.add_callback("on_train_epoch_end", record_event)
    metrics = ddp.train(**TINY, device="cpu,cpu", project=str(tmp_path), name="ddp")
    assert "metrics/mAP50-95(B)" in metrics
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "single"]
    steps = [
        torch.load(tmp_path / n / "weights/last.pt", weights_only=True)["optimizer_steps"] for n in ("single", "ddp")
    ]
    assert steps[0] == steps[1] > 0
    assert len((tmp_path / "ddp" / "results.csv").read_text().splitlines()) == 1 + TINY["epochs"]
    for rank in (0, 1):  # callbacks fire on every rank, as in a single process
        assert (tmp_path / "ddp" / f"events-rank{rank}.txt").read_text().split() == ["0", "1"]


def _stuck_rank(ctx: DistContext) -> None:
    if ctx.rank == 1:
        time.sleep(60)
    dist.all_reduce(torch.ones(1))


def test_a_stuck_rank_times_out_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLOFORGE_DDP_TIMEOUT", "3")
    start = time.perf_counter()
    with pytest.raises(DistributedRunError, match="rank 0 failed"):
        launch(_stuck_rank, [torch.device("cpu")] * 2)
    assert time.perf_counter() - start < 50
