"""multi_scale and profile act on a real training run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from yoloforge import YOLO
from yoloforge.engine.train.multiscale import batch_size_px, resize_batch

TINY = {"data": "coco8.yaml", "workers": 0, "device": "cpu", "plots": False, "verbose": False, "warmup_epochs": 0.0}


def test_multi_scale_draws_keyed_stride_multiples_between_half_and_one_and_a_half_imgsz() -> None:
    sizes = [batch_size_px(640, 32, seed, epoch, i) for seed in range(3) for epoch in range(5) for i in range(20)]
    assert all(s % 32 == 0 and 320 <= s <= 960 for s in sizes)
    assert min(sizes) <= 352 and max(sizes) >= 928  # the whole range is used
    assert batch_size_px(640, 32, 0, 3, 7) == batch_size_px(640, 32, 0, 3, 7)  # keyed: a resumed run draws the same
    img = torch.rand(2, 3, 64, 48)
    assert resize_batch(img, 96, 32).shape == (2, 3, 96, 96)  # 48 * 1.5 = 72 -> 96, a stride multiple
    assert resize_batch(img, 64, 32) is img


def test_multi_scale_trains_each_batch_at_its_drawn_size(tmp_path: Path) -> None:
    shapes: list[tuple[int, int]] = []

    def record_input(trainer: Any) -> None:
        def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            if module.training:
                shapes.append(tuple(args[0].shape[2:]))

        trainer.model.register_forward_pre_hook(hook)

    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_pretrain_routine_end", record_input)
    yolo.train(**TINY, imgsz=64, batch=2, epochs=2, multi_scale=True, project=str(tmp_path), name="ms")
    expected = [batch_size_px(64, 32, 0, epoch, i) for epoch in range(2) for i in range(2)]
    assert shapes == [(s, s) for s in expected]
    assert len(set(expected)) > 1


def test_profile_logs_a_table_of_pytorch_and_each_installed_runtime(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="yoloforge"):
        YOLO("yolo11n.yaml").train(**{**TINY, "verbose": True}, imgsz=32, batch=4, epochs=1, profile=True,
                                   project=str(tmp_path), name="prof")  # fmt: skip
    table = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Profile:"))
    lines = table.splitlines()
    assert "one 32x32 image on cpu" in lines[0] and lines[1].split()[:2] == ["Format", "Runtime"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"PyTorch", "TorchScript", "ONNX", "OpenVINO"}
    for name in ("PyTorch", "TorchScript", "ONNX", "OpenVINO"):  # all installed by the dev extras: all measured
        ms = float(rows[name].split()[-1])
        assert 0 < ms < 10_000, rows[name]
    assert "1 epoch completed" in caplog.text and "Training for 1 epoch;" in caplog.text
    assert "ignored" not in caplog.text and not list((tmp_path / "prof").rglob("*.onnx"))  # exports were temporary
