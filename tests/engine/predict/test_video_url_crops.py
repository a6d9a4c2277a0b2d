"""Predict sources and outputs Ultralytics users use daily: video files, http(s) URLs, save_crop, save_txt.

Real coco128 images, a real mp4 made from them with OpenCV, a real HTTP server on 127.0.0.1, and the
Ultralytics-trained fixture model at imgsz 160.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.http_files import serve
from yoloforge.api import YOLO
from yoloforge.engine.predict.sources import SourceError
from yoloforge.engine.predict.writer import CROP_GAIN, CROP_PAD

PLANT, BIRDS, ELEPHANTS = "000000000030.jpg", "000000000143.jpg", "000000000263.jpg"
SETTINGS = {"imgsz": 160, "device": "cpu", "verbose": False}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, images: Path) -> Path:
    """6 frames at 5 fps, 192x160: three real photos, each shown twice."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (192, 160))
    for name in (PLANT, BIRDS, ELEPHANTS):
        frame = cv2.resize(cv2.imread(str(images / name)), (192, 160), interpolation=cv2.INTER_AREA)
        out.write(frame)
        out.write(frame)
    out.release()
    return path


def _frames(path: Path) -> list[np.ndarray]:
    cap, frames = cv2.VideoCapture(str(path)), []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    return frames


def test_video_is_predicted_frame_by_frame_and_written_back_annotated(yolo: YOLO, clip: Path, tmp_path: Path) -> None:
    results = yolo.predict(str(clip), save=True, save_txt=True, project=str(tmp_path), name="v", **SETTINGS)
    decoded = _frames(clip)
    assert len(results) == len(decoded) == 6 and all(r.path == str(clip) for r in results)
    for r, frame in zip(results, decoded, strict=True):  # each frame exactly as if predicted as an image
        (alone,) = yolo.predict(frame, **SETTINGS)
        np.testing.assert_array_equal(r.boxes.numpy().data, alone.boxes.numpy().data)
    assert sum(len(r) for r in results) > 0
    run = tmp_path / "v"
    assert all(r.save_dir == run for r in results)
    out = _frames(run / "clip.mp4")
    assert len(out) == 6 and out[0].shape == (160, 192, 3)
    assert not np.array_equal(out[0], decoded[0]) or not len(results[0])  # boxes drawn on the frames
    labels = sorted(p.name for p in (run / "labels").iterdir())
    assert labels == [f"clip_{i + 1}.txt" for i, r in enumerate(results) if len(r)]
    assert not [p for p in run.iterdir() if p.name.startswith(".")], "temporary video left behind"


def test_urls_are_downloaded_and_predicted_like_local_files(
    yolo: YOLO, images: Path, clip: Path, tmp_path: Path
) -> None:
    with serve({"photos/plant.jpg": images / PLANT, "clip.mp4": clip}) as server:
        url = f"{server.base}/photos/plant.jpg"
        (r,) = yolo.predict(url, save=True, project=str(tmp_path), name="u", **SETTINGS)
        frames = yolo.predict(f"{server.base}/clip.mp4", **SETTINGS)
        with pytest.raises(SourceError, match=r"missing\.jpg' could not be downloaded \(HTTP Error 404"):
            yolo.predict(f"{server.base}/missing.jpg", **SETTINGS)
    (local,) = yolo.predict(str(images / PLANT), **SETTINGS)
    assert r.path == url and len(r) > 0
    np.testing.assert_array_equal(r.boxes.numpy().data, local.boxes.numpy().data)
    assert (tmp_path / "u" / "plant.jpg").is_file()
    assert len(frames) == 6 and frames[0].path.endswith("/clip.mp4")


def test_save_crop_writes_one_crop_per_box_in_class_folders(yolo: YOLO, images: Path, tmp_path: Path) -> None:
    (r,) = yolo.predict(str(images / BIRDS), save_crop=True, project=str(tmp_path), name="c", **SETTINGS)
    b = r.boxes.numpy()
    crops = tmp_path / "c" / "crops"
    names = {r.names[int(c)] for c in b.cls}
    assert sorted(p.name for p in crops.iterdir()) == sorted(names) and len(r) > 3
    for name in names:
        n = int(sum(r.names[int(c)] == name for c in b.cls))
        stem = Path(BIRDS).stem
        assert sorted(p.name for p in (crops / name).iterdir()) == sorted(
            [f"{stem}.jpg"] + [f"{stem}{k}.jpg" for k in range(2, n + 1)]
        )
    x1, y1, x2, y2 = b.xyxy[0]  # the most confident box: its crop is the box, 2% + 10 px larger, clipped
    h, w = r.orig_shape
    first = cv2.imread(str(crops / r.names[int(b.cls[0])] / f"{Path(BIRDS).stem}.jpg"))
    bw, bh = (x2 - x1) * CROP_GAIN + CROP_PAD, (y2 - y1) * CROP_GAIN + CROP_PAD
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    want_w = int(min(cx + bw / 2, w)) - int(max(cx - bw / 2, 0))
    want_h = int(min(cy + bh / 2, h)) - int(max(cy - bh / 2, 0))
    assert first.shape[:2] == (want_h, want_w)


def test_save_txt_writes_no_file_for_an_image_without_detections(yolo: YOLO, images: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(images / PLANT, src / PLANT)
    cv2.imwrite(str(src / "blank.png"), np.full((120, 160, 3), 114, np.uint8))
    results = yolo.predict(str(src), save_txt=True, project=str(tmp_path), name="t", **SETTINGS)
    assert [len(r) > 0 for r in results] == [True, False]
    assert [p.name for p in (tmp_path / "t" / "labels").iterdir()] == [PLANT.replace(".jpg", ".txt")]
