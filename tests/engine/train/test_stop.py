"""Graceful stop as users meet it: Ctrl-C on the command line, a second Ctrl-C, request_stop() from a thread, DDP.

(SIGTERM at a random batch with bitwise-equal resume is in test_resume.py.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from yoloforge import YOLO
from yoloforge.engine.train.stop import TrainingStopped

TINY = {"data": "coco8.yaml", "imgsz": 64, "workers": 0, "device": "cpu", "plots": False, "verbose": False,
        "warmup_epochs": 0.0}  # fmt: skip


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """`yoloforge ...` in its own session, so a signal to its process group is what a terminal's Ctrl-C sends."""
    return subprocess.Popen([sys.executable, "-m", "yoloforge", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip


def wait_for(proc: subprocess.Popen[str], text: str, timeout: float = 120) -> list[str]:
    """Read stderr lines until one contains `text`; returns the lines read."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    proc.kill()
    pytest.fail(f"{text!r} never appeared; stderr so far:\n{''.join(lines)}")


def test_ctrl_c_on_the_cli_saves_prints_the_resume_command_and_that_command_resumes(tmp_path: Path) -> None:
    proc = start_cli("train", "data=coco8.yaml", "model=yolo11n.yaml", "epochs=2", "imgsz=64", "batch=1", "workers=2",
                     "device=cpu", "plots=False", f"project={tmp_path}", "name=run", cwd=tmp_path)  # fmt: skip
    wait_for(proc, "Training for 2 epochs")
    os.killpg(proc.pid, signal.SIGINT)  # main process and its loader workers, as a terminal does
    _, err = proc.communicate(timeout=120)
    last = (tmp_path / "run" / "weights" / "last.pt").resolve()
    assert proc.returncode == 130, err
    assert "Ctrl-C (SIGINT) received" in err and "Traceback" not in err
    command = f"yoloforge train resume model={last}"
    assert command in err
    saved = torch.load(last, weights_only=True)
    assert saved["position"] is not None or saved["epoch"] >= 0  # stopped after a batch, inside or at an epoch's end
    resumed = subprocess.run([sys.executable, "-m", "yoloforge", *command.split()[1:]], cwd="/", capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    final = torch.load(last, weights_only=True)
    assert final["epoch"] == 1 and final["position"] is None
    rows = (tmp_path / "run" / "results.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]


def test_a_second_ctrl_c_aborts_at_once(tmp_path: Path) -> None:
    # a big first batch (imgsz 256, batch 8) keeps the run inside it while both signals arrive
    proc = start_cli("train", "data=coco8.yaml", "model=yolo11n.yaml", "epochs=2", "imgsz=256", "batch=8", "workers=0",
                     "device=cpu", "plots=False", f"project={tmp_path}", "name=run", cwd=tmp_path)  # fmt: skip
    wait_for(proc, "Training for 2 epochs")
    os.killpg(proc.pid, signal.SIGINT)
    wait_for(proc, "Ctrl-C (SIGINT) received")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Second Ctrl-C: aborting now" in err and "Traceback" not in err and "resume with" not in err
    assert not (tmp_path / "run" / "weights" / "last.pt").exists()  # nothing saved: the first batch never finished
    assert not list((tmp_path / "run").rglob(".*tmp"))  # and no half-written file


def test_request_stop_from_another_thread(tmp_path: Path) -> None:
    def stop_from_a_thread(trainer: Any) -> None:
        if trainer.epoch == 1 and trainer.batch_i == 1:
            t = threading.Thread(target=trainer.request_stop)  # as the platform client does
            t.start()
            t.join()

    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_train_batch_end", stop_from_a_thread)
    with pytest.raises(TrainingStopped) as info:
        yolo.train(**TINY, batch=1, epochs=2, project=str(tmp_path), name="run")
    e = info.value
    last = (tmp_path / "run" / "weights" / "last.pt").resolve()
    assert e.exit_code == 143 and e.checkpoint == last and e.save_dir == last.parent.parent
    assert "epoch 2/2, after batch 2/4" in str(e) and e.resume_command == f"yoloforge train resume model={last}"
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers  # put back after fit()
    saved = torch.load(last, weights_only=True)
    assert saved["epoch"] == 0 and saved["position"]["epoch"] == 1 and saved["position"]["batch"] == 2
    YOLO(str(last)).train(resume=True)
    assert torch.load(last, weights_only=True)["position"] is None


def record_and_stop_on_rank1(trainer: Any) -> None:
    """Picklable: each rank notes the batches it trained; rank 1 alone asks to stop after its first one."""
    with (Path(trainer.save_dir) / f"batches-rank{trainer.ctx.rank}.txt").open("a") as f:
        f.write(f"{trainer.epoch}.{trainer.batch_i}\n")
    if trainer.ctx.rank == 1 and (trainer.epoch, trainer.batch_i) == (0, 0):
        trainer.request_stop()


def test_under_ddp_every_rank_stops_at_the_same_batch(tmp_path: Path) -> None:
    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_train_batch_end", record_and_stop_on_rank1)
    with pytest.raises(TrainingStopped) as info:  # raised in this (the launching) process
        yolo.train(**{**TINY, "device": "cpu,cpu"}, batch=2, epochs=2, project=str(tmp_path), name="ddp")
    run = tmp_path / "ddp"
    assert info.value.exit_code == 143 and info.value.checkpoint == (run / "weights" / "last.pt").resolve()
    for rank in (0, 1):
        assert (run / f"batches-rank{rank}.txt").read_text().split() == ["0.0"]
    saved = torch.load(run / "weights" / "last.pt", weights_only=True)
    assert saved["position"]["batch"] == 1 and saved["position"]["world_size"] == 2


def test_a_stop_requested_during_setup_ends_before_the_first_batch(tmp_path: Path) -> None:
    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_pretrain_routine_start", lambda trainer: trainer.request_stop())
    yolo.add_callback("on_train_batch_start", lambda trainer: pytest.fail("no batch may run"))
    with pytest.raises(TrainingStopped, match="before the first batch") as info:
        yolo.train(**TINY, batch=2, epochs=1, project=str(tmp_path), name="run")
    assert info.value.checkpoint is None and info.value.resume_command is None  # nothing was trained to resume
    assert not (tmp_path / "run" / "weights" / "last.pt").exists()
