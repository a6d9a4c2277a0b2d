"""DetectionModel behaviour: forward modes, decoded boxes, BatchNorm fusion, size summary."""

from __future__ import annotations

import copy
import math
import re

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from yoloforge.nn.builder import build_model
from yoloforge.nn.model import DetectionModel, ModelInfo
from yoloforge.nn.modules import Detect, make_anchors

FAMILIES = ["yolo11n", "yolov8n"]


@pytest.fixture(scope="module", params=FAMILIES)
def model(request: pytest.FixtureRequest) -> DetectionModel:
    torch.manual_seed(0)
    return build_model(f"{request.param}.yaml", nc=5)


def _randomise_batchnorm(model: nn.Module) -> None:
    """Give every BN non-trivial statistics so folding them is actually exercised."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            c = bn.num_features
            bn.weight.copy_(torch.rand(c, generator=gen) + 0.5)
            bn.bias.copy_(torch.randn(c, generator=gen) * 0.1)
            bn.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            bn.running_var.copy_(torch.rand(c, generator=gen) + 0.5)


def test_training_forward_returns_raw_level_maps(model: DetectionModel) -> None:
    model.train()
    out = model(torch.rand(2, 3, 64, 96))
    assert isinstance(out, list) and len(out) == 3
    no = 4 * 16 + 5
    assert [tuple(o.shape) for o in out] == [(2, no, 8, 12), (2, no, 4, 6), (2, no, 2, 3)]


def test_eval_forward_decodes_boxes_around_anchor_points(model: DetectionModel) -> None:
    model.eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, torch.Tensor)
    assert out.shape == (2, 4 + 5, 8 * 12 + 4 * 6 + 2 * 3)
    boxes, scores = out[:, :4], out[:, 4:]
    assert torch.isfinite(out).all()
    assert ((scores > 0) & (scores < 1)).all()
    feats = [torch.zeros(1, 1, 64 // s, 96 // s) for s in (8, 16, 32)]
    points, strides = make_anchors(feats, [8, 16, 32])
    centre = points.t() * strides.t()  # (2, A) in pixels
    cx, cy, w, h = boxes.unbind(1)
    assert (w >= 0).all() and (h >= 0).all()
    max_side = 2 * 15 * strides.t()[0]  # each side is at most reg_max - 1 bins
    assert (w <= max_side + 1e-3).all() and (h <= max_side + 1e-3).all()
    # the predicted box always contains the anchor point it was regressed from
    assert (cx - w / 2 <= centre[0] + 1e-3).all() and (cx + w / 2 >= centre[0] - 1e-3).all()
    assert (cy - h / 2 <= centre[1] + 1e-3).all() and (cy + h / 2 >= centre[1] - 1e-3).all()


def test_head_exposes_what_the_loss_needs(model: DetectionModel) -> None:
    head = model.model[-1]
    assert isinstance(head, Detect) and head is model.head
    assert (head.nc, head.reg_max, head.no) == (5, 16, 69)
    assert head.stride.tolist() == [8.0, 16.0, 32.0]
    assert model.save == sorted(model.save) and all(i < len(model.model) - 1 for i in model.save)
    prior = math.log(5 / 5 / (640 / 8) ** 2)
    assert torch.allclose(head.cv3[0][-1].bias, torch.full((5,), prior))
    assert torch.allclose(head.cv2[2][-1].bias, torch.ones(64))
    assert not head.dfl.conv.weight.requires_grad
    assert head.dfl.conv.weight.flatten().tolist() == list(range(16))


@pytest.mark.parametrize("name", FAMILIES)
def test_fuse_keeps_eval_outputs(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(f"{name}.yaml")
    _randomise_batchnorm(model)
    model.eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        params_before = sum(p.numel() for p in model.parameters())
        assert model.fuse() is model
        after = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) < params_before
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)


def test_info_prints_summary(capsys: pytest.CaptureFixture[str]) -> None:
    model = build_model("yolo11n.yaml")
    info = model.info()
    assert isinstance(info, ModelInfo)
    assert info.layers == len(list(model.modules()))
    line = capsys.readouterr().out.strip()
    expected = (
        rf"yolo11n summary: {info.layers} layers, 2,624,080 parameters, 2,624,064 gradients, 6\.\d GFLOPs at imgsz=640"
    )
    assert re.fullmatch(expected, line)


def test_shape_only_flop_count_equals_a_real_forward() -> None:
    """flops() runs on meta tensors; it must count exactly what a real CPU forward pass counts."""
    model = build_model("yolo11n.yaml").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 3, 128, 128))
    assert model.flops(128) * 1e9 == pytest.approx(counter.get_total_flops(), rel=1e-9)
    assert model.training is False  # flops() restores the mode


def test_state_dict_round_trip_reproduces_outputs(model: DetectionModel) -> None:
    model.eval()
    twin = build_model(f"{model.yaml['name']}.yaml", nc=5).eval()
    twin.load_state_dict(copy.deepcopy(model.state_dict()))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x))


def test_detect_rejects_empty_channels() -> None:
    with pytest.raises(ValueError, match="channel count"):
        Detect(nc=3, ch=[])
