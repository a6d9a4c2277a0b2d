"""Predict mode on real coco128 images with Ultralytics' overfit yolo11n (imgsz 160).

The model is weak, so the tests assert structure (equal detections across sources, bounds, filters, files) and
one semantic fact checked against the image's own ground-truth label: its most confident box overlaps a
labelled object of the same class, which only holds when boxes are mapped back to original pixels correctly.
"""

from __future__ import annotations

import inspect
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from yoloforge.api import YOLO
from yoloforge.cfg.schema import RunConfig
from yoloforge.data.images import ImageError, read_image
from yoloforge.engine.predict import sources
from yoloforge.engine.predict.predictor import predict, predict_settings, preprocess
from yoloforge.engine.predict.results import Results
from yoloforge.engine.predict.sources import SourceError, load_source
from yoloforge.errors import ConfigError, YoloforgeError
from yoloforge.utils.boxes import box_iou, xywhn2xyxy
from yoloforge.utils.log import LOGGER

PLANT = "000000000030.jpg"  # 640x428: a potted plant in a vase (labels 58 and 75); the model finds both
BIRDS = "000000000143.jpg"  # 600x500: many birds, the model finds over 10
ELEPHANTS = "000000000263.jpg"  # 591x640: elephants


def _cfg(**kw: Any) -> RunConfig:
    return RunConfig(mode="predict", imgsz=160, device="cpu", verbose=False, **kw)


@pytest.fixture(scope="module")
def ref(yolo: YOLO, images: Path) -> Results:
    """The plant image predicted from its path: what every other source of the same pixels must match."""
    (r,) = predict(yolo.model, _cfg(), str(images / PLANT))
    return r


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, images: Path) -> Path:
    """Three real images and one corrupt file."""
    d = tmp_path_factory.mktemp("imgs")
    for name in (PLANT, BIRDS, ELEPHANTS):
        shutil.copy(images / name, d / name)
    (d / "broken.jpg").write_bytes(b"this is not a jpeg")
    return d


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """Warnings from the yoloforge logger (which may not propagate once the CLI set logging up)."""
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    LOGGER.addHandler(handler)
    yield seen
    LOGGER.removeHandler(handler)


def _same(a: Results, b: Results) -> None:
    assert a.orig_shape == b.orig_shape and len(a) == len(b) > 0
    assert torch.allclose(a.boxes.data, b.boxes.data, atol=1e-4)


def test_reference_detections_are_sane(ref: Results, yolo: YOLO, images: Path) -> None:
    b = ref.boxes
    h, w = ref.orig_shape
    assert (h, w) == (428, 640) and ref.path.endswith(PLANT) and ref.names == yolo.names
    assert (b.xyxy[:, 0::2] >= 0).all() and (b.xyxy[:, 0::2] <= w).all()
    assert (b.xyxy[:, 1::2] >= 0).all() and (b.xyxy[:, 1::2] <= h).all()
    assert (b.conf >= 0.25).all() and (b.cls < yolo.model.nc).all()
    assert torch.equal(b.conf, b.conf.sort(descending=True).values)
    assert set(ref.speed) == {"preprocess", "inference", "postprocess"} and min(ref.speed.values()) >= 0
    gt = np.loadtxt(images.parent.parent / "labels" / "train2017" / PLANT.replace(".jpg", ".txt"), ndmin=2)
    gt_boxes = torch.from_numpy(xywhn2xyxy(gt[:, 1:], w, h)).float()
    best = b[0]
    iou = box_iou(best.xyxy, gt_boxes)[0]
    iou[torch.from_numpy(gt[:, 0]) != best.cls] = 0
    assert iou.max() > 0.5, f"the top box {best.xyxy} does not overlap a labelled {ref.names[int(best.cls)]}"


def test_array_pil_list_and_txt_sources_match_the_path(yolo: YOLO, ref: Results, tmp_path: Path) -> None:
    from PIL import Image

    bgr = cv2.imread(ref.path)
    (from_array,) = predict(yolo, _cfg(), bgr)
    (from_pil,) = predict(yolo.model, _cfg(), Image.fromarray(bgr[:, :, ::-1].copy()))
    _same(from_array, ref)
    _same(from_pil, ref)
    assert from_array.path == "image0.jpg" and np.array_equal(from_array.orig_img, bgr)
    both = predict(yolo.model, _cfg(batch=2), [ref.path, bgr])  # one batch of two same-shape images
    assert [r.path for r in both] == [ref.path, "image1.jpg"]
    for r in both:
        _same(r, ref)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{ref.path}\n")
    (from_txt,) = predict(yolo.model, _cfg(), listing)
    _same(from_txt, ref)


def test_folder_streams_lazily_and_skips_corrupt_files(
    yolo: YOLO, ref: Results, folder: Path, warnings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    monkeypatch.setattr(sources, "read_image", lambda p: reads.append(p) or read_image(p))
    model = yolo.model.train()  # predict must hand the model back in the mode it found it
    gen = predict(model, _cfg(), folder, stream=True)
    assert inspect.isgenerator(gen) and reads == []
    first = next(gen)
    assert isinstance(first, Results) and first.path.endswith(PLANT)
    assert len(reads) == 1, "one image is read per result, not the whole folder up front"
    _same(first, ref)
    rest = list(gen)
    assert [Path(r.path).name for r in rest] == [BIRDS, ELEPHANTS]
    assert model.training
    skipped = [w for w in warnings if "broken.jpg" in w]
    assert len(skipped) == 1 and "1 skipped so far" in skipped[0]
    assert any("1 of 4 images could not be read" in w for w in warnings)
    yolo.model.eval()


def test_glob_source(yolo: YOLO, ref: Results, folder: Path) -> None:
    results = predict(yolo.model, _cfg(), str(folder / "*30.jpg"))
    assert len(results) == 1
    _same(results[0], ref)


def test_filters_and_limits(yolo: YOLO, folder: Path) -> None:
    (full,) = predict(yolo.model, _cfg(), folder / BIRDS)
    assert len(full) > 5
    (top,) = predict(yolo.model, _cfg(max_det=5, conf=0.3), folder / BIRDS)
    assert len(top) == 5 and (top.boxes.conf > 0.3).all()
    assert torch.allclose(top.boxes.data, full.boxes.data[:5], atol=1e-4)
    cls = int(full.boxes.cls[0])
    (only,) = predict(yolo.model, _cfg(classes=[cls + 1]), folder / BIRDS)
    assert (only.boxes.cls == cls + 1).all() and len(only) < len(full)
    # xywhn is the normalised centre/size of xyxy
    xy = full.boxes.xyxy
    h, w = full.orig_shape
    xywhn = torch.stack(((xy[:, 0] + xy[:, 2]) / 2 / w, (xy[:, 1] + xy[:, 3]) / 2 / h, *(xy[:, 2:] - xy[:, :2]).T))
    xywhn[2:] /= torch.tensor([[w], [h]])
    assert torch.allclose(full.boxes.xywhn, xywhn.T, atol=1e-6)


def test_saving_numbers_run_folders(yolo: YOLO, ref: Results, tmp_path: Path, images: Path) -> None:
    cfg = _cfg(save=True, save_txt=True, project=str(tmp_path))
    (r,) = predict(yolo.model, cfg, images / PLANT)
    run = tmp_path / "predict"
    img = cv2.imread(str(run / PLANT))
    assert img is not None and img.shape == ref.orig_img.shape
    rows = np.loadtxt(run / "labels" / PLANT.replace(".jpg", ".txt"), ndmin=2)
    assert rows[:, 0].tolist() == r.boxes.cls.tolist()
    assert np.allclose(rows[:, 1:], r.boxes.xywhn.numpy(), atol=1e-5)
    predict(yolo.model, _cfg(save=True, project=str(tmp_path)), cv2.imread(ref.path))
    assert (tmp_path / "predict2" / "image0.jpg").is_file() and not (tmp_path / "predict2" / "labels").exists()
    predict(yolo.model, _cfg(project=str(tmp_path)), cv2.imread(ref.path))  # save not given: nothing written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predict", "predict2"]


def test_predict_defaults_differ_from_training() -> None:
    assert predict_settings(RunConfig(mode="predict")) == (0.25, 1, False)
    assert predict_settings(RunConfig(mode="predict", conf=0.5, batch=4, save=True)) == (0.5, 4, True)
    with pytest.raises(ConfigError, match="batch=-1"):
        predict_settings(RunConfig(mode="predict", batch=-1))


def test_preprocess_shapes_and_channels() -> None:
    wide = np.zeros((100, 200, 3), np.uint8)
    wide[..., 0] = 255  # pure blue in BGR
    x, ratio_pad = preprocess([wide, wide], 160, 32)
    assert x.shape == (2, 3, 96, 160) and x.dtype == torch.float32  # minimal padding for equal shapes
    assert x[0, 2, 48, 80] == 1.0 and x[0, 0, 48, 80] == 0.0  # blue lands in the RGB tensor's last channel
    assert ratio_pad[0] == ((0.8, 0.8), (0.0, 8.0))
    x, _ = preprocess([wide, np.zeros((50, 40, 3), np.uint8)], [128, 160], 32)
    assert x.shape == (2, 3, 128, 160)  # mixed shapes: full size so they stack


@pytest.mark.parametrize(
    ("source", "match"),
    [
        (None, "no source given.*Accepted: an image file"),
        (5, "unsupported source of type builtins.int.*Accepted: an image file"),
        (torch.zeros(3, 8, 8), "unsupported source of type torch.Tensor.*permute"),
        (np.zeros((8, 8, 3), np.float32), "HxWx3 BGR uint8.*float32"),
        ("does/not/exist.jpg", "does not exist.*Accepted: an image file"),
        ("nothing/here/*.png", "matched no image"),
        ("ftp://example.com/a.jpg", "only http:// and https:// URLs are fetched"),
        ([], "empty list.*Accepted: an image file"),
    ],
)
def test_bad_sources_fail_at_once_naming_what_is_accepted(source: Any, match: str) -> None:
    with pytest.raises(SourceError, match=match) as e:
        load_source(source)
    assert isinstance(e.value, ValueError)


def test_unreadable_files(yolo: YOLO, tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"\0" * 16)
    with pytest.raises(SourceError, match=r"video '.*clip\.mp4' could not be opened or has no readable frame"):
        load_source(tmp_path / "clip.mp4")
    bad = tmp_path / "only" / "bad.png"
    bad.parent.mkdir()
    bad.write_bytes(b"garbage")
    with pytest.raises(ImageError, match=r"bad\.png"):  # one image asked for by name: an error, not a skip
        predict(yolo.model, _cfg(), bad)
    with pytest.raises(YoloforgeError, match="no readable image"):
        predict(yolo.model, _cfg(), bad.parent)
