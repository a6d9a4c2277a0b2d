"""Where label files are found (sibling path, then beside the image), one cache per split, unlabelled splits."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from yoloforge.cfg.schema import RunConfig
from yoloforge.data.dataset import DetectionDataset
from yoloforge.data.files import find_label_files, list_images
from yoloforge.data.labels import LabelError, cache_path, load_labels
from yoloforge.errors import ConfigError

ROW = "1 0.5 0.5 0.25 0.25\n"
TWO_ROWS = "0 0.3 0.3 0.2 0.2\n2 0.7 0.6 0.1 0.3\n"


def _image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), im)
    return path


def _label(path: Path, text: str = ROW) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _messages(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    """Each record once (it can reach caplog's handler both directly and through propagation)."""
    records = {id(r): r for r in caplog.records if r.levelno >= level}
    return [r.getMessage() for r in records.values()]


def test_labels_beside_images_inside_an_images_folder_are_used_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ultralytics#21224: a.txt beside a.jpg inside `images/`, no `labels/` folder: the rows count."""
    flat = [_image(tmp_path / "flat" / f"f{i}.jpg", i) for i in range(2)]
    nested = [_image(tmp_path / "nested" / "images" / f"n{i}.jpg", i) for i in range(3)]
    for im in [*flat, *nested]:
        _label(im.with_suffix(".txt"), TWO_ROWS if im in nested else ROW)
    files = list_images([tmp_path / "flat", tmp_path / "nested" / "images"])
    caplog.set_level(logging.INFO, logger="yoloforge")
    _, report = load_labels(files, 3, cache=False, prefix="train")
    assert (report.images, report.backgrounds, report.instances) == (5, 0, 2 + 3 * 2)
    warned = [m for m in _messages(caplog) if "beside their images" in m]
    assert len(warned) == 1 and "3 label files" in warned[0]
    assert str(tmp_path / "nested" / "images" / "n0.txt") in warned[0]
    assert str(tmp_path / "nested" / "labels" / "n0.txt") in warned[0]  # the sibling path that does not exist
    assert not any("flat" in m for m in _messages(caplog))  # beside with no images/ folder: the normal place


def test_sibling_label_wins_and_the_one_beside_is_named_as_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    im = _image(tmp_path / "images" / "a.png")
    _label(tmp_path / "labels" / "a.txt", ROW)
    _label(tmp_path / "images" / "a.txt", TWO_ROWS)  # a stale copy: not used
    lookup = find_label_files([str(im)])
    assert lookup.paths == [str(tmp_path / "labels" / "a.txt")]
    assert lookup.ignored == [str(tmp_path / "images" / "a.txt")]
    _, report = load_labels([str(im)], 3, cache=False)
    assert report.instances == 1
    warned = [m for m in _messages(caplog) if "ignored" in m]
    assert len(warned) == 1 and str(tmp_path / "images" / "a.txt") in warned[0]


def test_two_splits_over_one_labels_folder_keep_a_cache_each(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ultralytics#6659: train.txt and val.txt over one images/ + labels/ folder."""
    ims = [_image(tmp_path / "images" / f"{i}.jpg", i) for i in range(5)]
    for im in ims:
        _label(tmp_path / "labels" / f"{im.stem}.txt")
    train, val = [str(p) for p in ims[:3]], [str(p) for p in ims[3:]]
    caplog.set_level(logging.INFO, logger="yoloforge")
    for _ in range(2):
        load_labels(train, 3, prefix="train", workers=0)
        load_labels(val, 3, prefix="val", workers=0)
    assert cache_path(train) != cache_path(val) and cache_path(train).parent == cache_path(val).parent
    assert sorted(p.name for p in tmp_path.glob("*.yoloforge.cache")) == sorted(
        [cache_path(train).name, cache_path(val).name]
    )
    lines = [m for m in _messages(caplog, logging.INFO) if re.match(r"(train|val): \d+ images", m)]
    assert [("from cache" in m, m.split(":")[0]) for m in lines] == [
        (False, "train"), (False, "val"), (True, "train"), (True, "val")
    ]  # fmt: skip


def _unlabelled(root: Path, n: int = 4) -> list[str]:
    """Images in photos/tr, labels in labels/tr: the sibling rule (images -> labels) cannot pair them."""
    for i in range(n):
        _image(root / "photos" / "tr" / f"{i}.jpg", i)
        _label(root / "labels" / "tr" / f"{i}.txt")
    return list_images(root / "photos" / "tr")


def test_training_split_without_label_files_stops_naming_where_it_looked(tmp_path: Path) -> None:
    files = _unlabelled(tmp_path)
    with pytest.raises(LabelError) as e:
        DetectionDataset(files, 3, None, RunConfig(imgsz=64, workers=0), augment=True, prefix="train: ")
    msg = str(e.value)
    assert msg.startswith("train: only 0 of 4 images have a label file") and "\n" not in msg
    assert "at least 1%" in msg and "empty .txt marks a background" in msg
    assert str(tmp_path / "photos" / "tr" / "0.txt") in msg  # where it looked, for an example image
    assert f"rename the folder {tmp_path / 'photos'} to {tmp_path / 'images'}" in msg  # the label files it saw


def test_validation_split_without_label_files_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = _unlabelled(tmp_path, 2)
    ds = DetectionDataset(files, 3, None, RunConfig(imgsz=64, workers=0), augment=False, prefix="val: ")
    assert len(ds) == 2 and ds.label_report.instances == 0
    assert any("none of the 2 images has a label file" in m for m in _messages(caplog))


def test_threshold_one_percent_and_empty_label_files_count(tmp_path: Path) -> None:
    """Backgrounds marked by empty label files train; one label file per 100 images is the least accepted."""
    files = [str(_image(tmp_path / "images" / f"{i:03d}.jpg", 0)) for i in range(101)]
    _label(tmp_path / "labels" / "000.txt")
    with pytest.raises(LabelError, match=r"only 1 of 101 images has a label file"):
        load_labels(files, 3, cache=False, min_labelled=0.01)
    _label(tmp_path / "labels" / "001.txt", "")  # an empty file: a background, and a label file
    _, report = load_labels(files, 3, cache=False, min_labelled=0.01)
    assert (report.images, report.backgrounds, report.instances) == (101, 100, 1)


def test_classes_outside_the_dataset_is_one_config_error(tmp_path: Path) -> None:
    im = _image(tmp_path / "images" / "a.jpg")
    _label(tmp_path / "labels" / "a.txt")
    with pytest.raises(ConfigError) as e:
        load_labels([str(im)], 3, names={0: "person", 1: "car", 2: "dog"}, classes=[5], cache=False)
    assert str(e.value) == (
        "classes=[5]: 5 is not a class id of this dataset, which has 3 classes: 0 person, 1 car, 2 dog; use ids 0..2"
    )


def test_cli_refuses_unlabelled_training_and_foreign_classes_in_one_line(tmp_path: Path) -> None:
    """Item 10 as a new user meets it: `yoloforge train` on photos/ + labels/, then classes=[5] on 3 classes."""
    _unlabelled(tmp_path / "ds")
    yaml_file = _label(tmp_path / "ds" / "data.yaml", "path: .\ntrain: photos/tr\nval: photos/tr\nnames: [a, b, c]\n")
    args = ["model=yolo11n.yaml", "epochs=1", "imgsz=64", "workers=0", "device=cpu", f"project={tmp_path / 'runs'}"]

    def train(*extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "yoloforge", "train", f"data={yaml_file}", *args, *extra]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)

    r = train()
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert last.startswith("yoloforge: error: train: only 0 of 4 images have a label file")
    assert str(tmp_path / "ds" / "labels" / "tr" / "0.txt") in last
    for i in range(4):  # labels beside the images now: training could start, but classes= names a foreign class
        _label(tmp_path / "ds" / "photos" / "tr" / f"{i}.txt")
    r = train("classes=[5]")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        "yoloforge: error: classes=[5]: 5 is not a class id of this dataset, which has 3 classes: 0 a, 1 b, 2 c; "
        "use ids 0..2"
    )
