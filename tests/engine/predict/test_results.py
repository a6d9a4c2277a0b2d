"""Results and Boxes on a synthetic image: formats, subsets, drawing, saving and label round trips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yoloforge.engine.predict.results import Boxes, Results, ResultsError

NAMES = {0: "person", 1: "bicycle", 16: "dog"}
H, W = 200, 300


def _results() -> Results:
    img = np.full((H, W, 3), 90, np.uint8)
    data = torch.tensor(
        [
            [10.0, 20.0, 110.0, 180.0, 0.9, 0.0],
            [150.0, 40.0, 290.0, 120.0, 0.6, 16.0],
            [120.0, 100.0, 200.0, 190.0, 0.3, 0.0],
        ]
    )
    return Results(img, "some/dir/pic.jpg", NAMES, data, {"preprocess": 1.0, "inference": 2.0, "postprocess": 3.0})


def test_box_formats_agree() -> None:
    b = _results().boxes
    assert len(b) == 3 and b.shape == (3, 6) and isinstance(b.xyxy, torch.Tensor)
    assert torch.equal(b.conf, torch.tensor([0.9, 0.6, 0.3])) and b.cls.tolist() == [0, 16, 0]
    assert torch.allclose(b.xywh[0], torch.tensor([60.0, 100.0, 100.0, 160.0]))
    assert torch.allclose(b.xyxyn[1], torch.tensor([150 / W, 40 / H, 290 / W, 120 / H]))
    # xywhn is xyxyn's centre and size
    n = b.xyxyn
    centre_size = torch.stack(((n[:, 0] + n[:, 2]) / 2, (n[:, 1] + n[:, 3]) / 2, n[:, 2] - n[:, 0], n[:, 3] - n[:, 1]))
    assert torch.allclose(b.xywhn, centre_size.T)


def test_indexing_and_conversions() -> None:
    r = _results()
    assert r.boxes[0].xyxy.shape == (1, 4) and r.boxes[-1].conf.tolist() == pytest.approx([0.3])
    assert len(r.boxes[1:]) == 2 and len(r.boxes[r.boxes.conf > 0.5]) == 2
    npb = r.boxes.numpy()
    assert isinstance(npb.data, np.ndarray) and isinstance(npb.xywhn, np.ndarray)
    assert np.allclose(npb.xywhn, r.boxes.xywhn.numpy()) and np.allclose(npb.xyxyn, r.boxes.xyxyn.numpy())
    assert isinstance(r.cpu().boxes.data, torch.Tensor) and isinstance(npb.to("cpu").data, torch.Tensor)
    sub = r[r.boxes.cls == 0]
    assert len(sub) == 2 and sub.orig_img is r.orig_img and sub.path == r.path
    with pytest.raises(ResultsError, match=r"\(n, 6\)"):
        Boxes(torch.zeros(3, 4), (H, W))


def test_summary_verbose_and_repr() -> None:
    r = _results()
    assert r.verbose() == "2 persons, 1 dog"
    assert "pic.jpg" in repr(r) and "300x200" in repr(r) and "2 persons, 1 dog" in repr(r)
    s = r.summary()
    assert s[1] == {"name": "dog", "class": 16, "confidence": 0.6, "box": {"x1": 150, "y1": 40, "x2": 290, "y2": 120}}
    assert r.summary(normalize=True)[0]["box"]["x2"] == pytest.approx(110 / W, abs=1e-5)
    empty = Results(r.orig_img, "x.jpg", NAMES)
    assert len(empty) == 0 and empty.verbose() == "no detections" and empty.summary() == []


def test_plot_draws_inside_boxes_and_keeps_the_original() -> None:
    r = _results()
    out = r.plot()
    assert out.shape == r.orig_img.shape and out.dtype == np.uint8
    assert (r.orig_img == 90).all()
    changed = (out != 90).any(axis=2)
    for x1, y1, x2, y2 in r.boxes.xyxy.int().tolist():
        assert changed[y1 : y2 + 1, x1 : x2 + 1].any()
    assert not changed[195:, :5].any()  # a corner no box or label touches
    assert (r.plot(labels=False) != 90).any(axis=2).sum() < changed.sum()


def test_save_writes_a_readable_image(tmp_path: Path) -> None:
    r = _results()
    for name in ("out.jpg", "sub/out.png"):
        path = r.save(tmp_path / name)
        img = cv2.imread(str(path))
        assert img is not None and img.shape == (H, W, 3)
    assert np.array_equal(cv2.imread(str(tmp_path / "sub/out.png")), r.plot())  # png is lossless
    assert not list(tmp_path.glob("**/.*.tmp")), "atomic writes leave no temporary files"
    with pytest.raises(ResultsError, match="no encoder"):
        r.save(tmp_path / "out.nope")


def test_save_txt_round_trips(tmp_path: Path) -> None:
    r = _results()
    rows = np.loadtxt(r.save_txt(tmp_path / "a.txt"), ndmin=2)
    assert rows.shape == (3, 5)
    assert rows[:, 0].tolist() == r.boxes.cls.tolist()
    assert np.allclose(rows[:, 1:], r.boxes.xywhn.numpy(), atol=1e-6)
    rows = np.loadtxt(r.save_txt(tmp_path / "labels" / "b.txt", save_conf=True), ndmin=2)
    assert rows.shape == (3, 6) and np.allclose(rows[:, 5], r.boxes.conf.numpy(), atol=1e-6)
    assert Results(r.orig_img, "x.jpg", NAMES).save_txt(tmp_path / "empty.txt").read_text() == ""
