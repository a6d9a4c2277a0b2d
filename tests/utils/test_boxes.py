"""Box conversions, IoU and the letterbox inverse, for torch and numpy alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yoloforge.utils.boxes import (
    box_iou,
    clip_boxes,
    scale_boxes,
    xywh2xyxy,
    xywhn2xyxy,
    xyxy2xywh,
    xyxy2xywhn,
)

XYWH = [[50.0, 40.0, 20.0, 10.0], [5.0, 5.0, 10.0, 10.0]]
XYXY = [[40.0, 35.0, 60.0, 45.0], [0.0, 0.0, 10.0, 10.0]]


@pytest.mark.parametrize("lib", [np.array, torch.tensor])
def test_conversions_round_trip(lib) -> None:
    xywh, xyxy = lib(XYWH), lib(XYXY)
    assert np.allclose(np.asarray(xywh2xyxy(xywh)), XYXY)
    assert np.allclose(np.asarray(xyxy2xywh(xyxy)), XYWH)
    norm = xyxy2xywhn(xyxy, w=100, h=50)
    assert np.allclose(np.asarray(norm), [[0.5, 0.8, 0.2, 0.2], [0.05, 0.1, 0.1, 0.2]])
    assert np.allclose(np.asarray(xywhn2xyxy(norm, w=100, h=50)), XYXY)
    assert np.allclose(np.asarray(xywhn2xyxy(norm, w=100, h=50, padw=3, padh=4))[0], [43, 39, 63, 49])
    assert type(xywh2xyxy(xywh)) is type(xywh)
    assert np.allclose(np.asarray(xywh), XYWH)  # inputs untouched


def test_xyxy2xywhn_clip_and_batched_shapes() -> None:
    b = np.array([[-10.0, -5.0, 50.0, 60.0]])
    assert np.allclose(xyxy2xywhn(b, w=40, h=40, clip=True), [[0.5, 0.5, 1.0, 1.0]])
    batched = torch.rand(2, 7, 4)
    assert xywh2xyxy(batched).shape == (2, 7, 4)
    with pytest.raises(ValueError, match="4 values"):
        xywh2xyxy(np.zeros((3, 5)))


@pytest.mark.parametrize("lib", [np.array, torch.tensor])
def test_box_iou(lib) -> None:
    a = lib([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 0.0, 0.0]])
    b = lib([[5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    iou = np.asarray(box_iou(a, b))
    assert iou.shape == (2, 3)
    assert np.allclose(iou, [[50 / 150, 1.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-6)


def test_clip_boxes() -> None:
    b = torch.tensor([[-5.0, 3.0, 120.0, 90.0]])
    assert clip_boxes(b, (80, 100)).tolist() == [[0.0, 3.0, 100.0, 80.0]]
    assert b[0, 0] == -5  # a copy
    assert clip_boxes(b.numpy(), (80, 100, 3)).tolist() == [[0.0, 3.0, 100.0, 80.0]]


def test_scale_boxes_inverts_a_letterbox() -> None:
    h0, w0 = 480, 640  # original; letterboxed into 160x160: gain 0.25, 120x160 image padded 20 px top and bottom
    orig = np.array([[100.0, 50.0, 300.0, 250.0], [600.0, 400.0, 640.0, 480.0]])
    boxed = orig * 0.25 + [0, 20, 0, 20]
    assert np.allclose(scale_boxes(boxed, (160, 160), (h0, w0)), orig)
    assert np.allclose(scale_boxes(torch.tensor(boxed), (160, 160), (h0, w0)).numpy(), orig)
    assert np.allclose(scale_boxes(boxed, (160, 160), (h0, w0), ratio_pad=(0.25, (0, 20))), orig)
    aniso = orig * [0.25, 0.3, 0.25, 0.3] + [2, 1, 2, 1]  # separate (gain_h, gain_w)
    assert np.allclose(scale_boxes(aniso, (160, 160), (h0, w0), ratio_pad=((0.3, 0.25), (2, 1))), orig)
    out = scale_boxes(np.array([[-8.0, 0.0, 170.0, 200.0]]), (160, 160), (h0, w0))
    assert out.tolist() == [[0.0, 0.0, 640.0, 480.0]]  # clipped to the original image
