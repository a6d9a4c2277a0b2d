"""AutoBatch: the CPU fallback, and backing off when the first epoch runs out of memory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from yoloforge import YOLO
from yoloforge.engine.train.autobatch import resolve_batch


def test_cpu_uses_16_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="yoloforge"):
        assert resolve_batch(-1, torch.device("cpu")) == 16
        assert resolve_batch(0.7, torch.device("cpu")) == 16
    assert "AutoBatch needs CUDA" in caplog.text
    assert resolve_batch(8, torch.device("cpu")) == 8


def test_out_of_memory_in_the_first_epoch_halves_an_automatic_batch(tmp_path: Path) -> None:
    seen: dict[str, Any] = {"ooms": []}

    def fail_once_when_big(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if module.training and not seen["ooms"]:
            seen["ooms"].append(args[0].shape[0])
            raise torch.cuda.OutOfMemoryError("simulated: CUDA out of memory")

    def arm(trainer: Any) -> None:
        seen["trainer"] = trainer
        trainer.model.register_forward_pre_hook(fail_once_when_big)

    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_pretrain_routine_end", arm)
    yolo.train(data="coco8.yaml", epochs=1, imgsz=64, batch=-1, workers=0, device="cpu", plots=False,
               verbose=False, project=str(tmp_path), name="ab")  # fmt: skip
    assert seen["ooms"] == [4]  # coco8 has 4 training images
    assert seen["trainer"].batch_size == 8
    assert (tmp_path / "ab" / "weights" / "last.pt").exists()


def test_a_fixed_batch_does_not_hide_out_of_memory(tmp_path: Path) -> None:
    def always(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if module.training:
            raise torch.cuda.OutOfMemoryError("simulated: CUDA out of memory")

    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_pretrain_routine_end", lambda t: t.model.register_forward_pre_hook(always))
    with pytest.raises(torch.cuda.OutOfMemoryError):
        yolo.train(data="coco8.yaml", epochs=1, imgsz=64, batch=4, workers=0, device="cpu", plots=False,
                   verbose=False, project=str(tmp_path), name="fixed")  # fmt: skip
