"""Numerical parity with the incumbent: its checkpoints loaded into our models give its outputs.

The checkpoints pickle whole model objects. They are read with torch's weights-only unpickler,
every class they name replaced by an inert stand-in that just keeps its pickled state, so no
foreign code runs. The tensors are then collected into a state dict by walking `_modules`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from yoloforge.nn.builder import build_model

_FOREIGN_CLASSES = [
    "ultralytics.nn.tasks.DetectionModel",
    *(f"ultralytics.nn.modules.conv.{n}" for n in ("Conv", "DWConv", "Concat")),
    *(
        f"ultralytics.nn.modules.block.{n}"
        for n in ("Bottleneck", "C2f", "C3k", "C3k2", "C2PSA", "PSABlock", "Attention", "SPPF", "DFL")
    ),
    "ultralytics.nn.modules.head.Detect",
    *(
        f"torch.nn.modules.{n}"
        for n in (
            "conv.Conv2d",
            "batchnorm.BatchNorm2d",
            "activation.SiLU",
            "linear.Identity",
            "pooling.MaxPool2d",
            "upsampling.Upsample",
            "container.ModuleList",
            "container.Sequential",
        )
    ),
]


class _StandIn:
    """Inert placeholder for a pickled module object; keeps its state dict-like `__dict__`."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _foreign_state_dict(path: Path) -> dict[str, torch.Tensor]:
    stand_ins = [(type(name.rsplit(".", 1)[1], (_StandIn,), {}), name) for name in _FOREIGN_CLASSES]
    with torch.serialization.safe_globals([*stand_ins, set]):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    out: dict[str, torch.Tensor] = {}
    _collect(ckpt.get("ema") or ckpt["model"], "", out)
    return out


def _collect(obj: _StandIn, prefix: str, out: dict[str, torch.Tensor]) -> None:
    state = obj.state
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if tensor is not None:
                out[prefix + name] = tensor.float()
    for name, child in (state.get("_modules") or {}).items():
        _collect(child, f"{prefix}{name}.", out)


@pytest.mark.parametrize(
    ("checkpoint", "config"),
    [
        ("yolo11n-coco128-overfit160", "yolo11n.yaml"),
        ("yolo11n-random", "yolo11n.yaml"),
        ("yolov8n-random", "yolov8n.yaml"),
    ],
)
def test_incumbent_weights_reproduce_incumbent_outputs(fixtures_dir: Path, checkpoint: str, config: str) -> None:
    weights = _foreign_state_dict(fixtures_dir / f"{checkpoint}.pt")
    model = build_model(config)
    ours = model.state_dict()
    assert list(weights) == list(ours)
    assert all(weights[k].shape == ours[k].shape for k in ours)
    model.load_state_dict(weights)
    model.eval()
    io = torch.load(fixtures_dir / f"{checkpoint}-io.pt", map_location="cpu", weights_only=True)
    with torch.no_grad():
        out = model(io["input"])
        assert out.shape == io["output"].shape
        assert (out - io["output"]).abs().max().item() < 1e-3
        fused = model.fuse()(io["input"])
    assert (fused - io["output"]).abs().max().item() < 1e-3
