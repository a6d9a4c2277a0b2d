"""load_labels on coco128 and on a generated dataset holding every defect kind, plus its cache."""

from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from yoloforge.data import labels as L
from yoloforge.data.files import label_paths_for, list_images
from yoloforge.data.labels import LabelError, cache_path, load_labels
from yoloforge.utils.log import LOGGER

NC = 3
SPLIT = "train"
DEFECTS_SUMMARY = (
    "train: 15 images, 2 backgrounds, 17 instances; "
    "skipped 8 (3 corrupt image, 1 class id >= nc, 1 coordinate out of range, 1 invalid class id, "
    "1 non-number, 1 wrong column count); "
    "fixed 4 rows (2 duplicate, 1 clipped to image, 1 zero-area)"
)
BOX = "0 0.5 0.5 0.25 0.25"
# image name -> label text (None: no label file). Expected outcome in the comments.
GOOD = {
    "good.jpg": "0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n",  # 2 rows
    "dup.jpg": f"{BOX}\n{BOX}\n1 0.2 0.2 0.1 0.1\n{BOX}\n",  # lines 2 and 4 duplicate line 1
    "zero area.png": f"{BOX}\n2 0.5 0.5 0 0.3\n",  # line 2 zero-area
    "poly.jpg": "2 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n0 0.7 0.7 0.2 0.2\n",  # polygon -> box
    "clip.jpg": "1 0.5 0.5 1.0004 0.5\n0 0.95 0.5 0.2 0.2\n",  # rounding clipped; line 2 overflows
    "empty.jpg": "",  # background
    "nolabel.jpg": None,  # background
    "gray.png": BOX,
    "rgba.png": BOX,
    "deep16.png": BOX,
    "exif.jpg": BOX,
    "upper.JPEG": BOX,
    "bitmap.BMP": BOX,
    "scan.tif": BOX,
    "photo ünï.webp": BOX,
}
BAD = {  # image name -> (label text, reason, line or None)
    "truncated.jpg": (BOX, "corrupt image", None),
    "zero bytes.jpg": (BOX, "corrupt image", None),
    "text.jpg": (BOX, "corrupt image", None),
    "cls.jpg": (f"{BOX}\n3 0.5 0.5 0.2 0.2\n", "class id >= nc", 2),
    "coord.jpg": ("0 1.5 0.5 0.2 0.2\n", "coordinate out of range", 1),
    "cols.jpg": ("0 0.5 0.5 0.2\n", "wrong column count", 1),
    "abc.jpg": (f"{BOX}\n\n0 0.5 abc 0.2 0.2\n", "non-number", 3),
    "neg.jpg": ("-1 0.5 0.5 0.2 0.2\n", "invalid class id", 1),
}


def _encode(path: Path, im: np.ndarray) -> None:
    ok, buf = cv2.imencode(path.suffix.lower(), im)
    assert ok
    buf.tofile(path)


def _image(path: Path, rng: np.random.Generator) -> None:
    """Write a real image; the name says which kind (gray, RGBA, 16-bit, EXIF, broken...)."""
    im = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    name = path.name
    if name == "gray.png":
        _encode(path, im[..., 0])
    elif name == "rgba.png":
        _encode(path, np.dstack([im, np.full((24, 32), 128, np.uint8)]))
    elif name == "deep16.png":
        _encode(path, im.astype(np.uint16) * 257)
    elif name == "exif.jpg":
        exif = Image.Exif()
        exif[0x0112] = 6  # stored 32 wide x 24 high, displayed 24 wide x 32 high
        Image.fromarray(im).save(path, exif=exif.tobytes())
    elif name == "truncated.jpg":
        _encode(path, im)
        path.write_bytes(path.read_bytes()[:-200])
    elif name == "zero bytes.jpg":
        path.write_bytes(b"")
    elif name == "text.jpg":
        path.write_text("this is a text file renamed .jpg\n")
    else:
        _encode(path, im)


def make_defects(root: Path) -> list[str]:
    """A split under a non-ASCII, spaced folder holding every defect kind; returns its image paths."""
    images, labels = root / "images" / SPLIT, root / "labels" / SPLIT
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    rng = np.random.default_rng(0)
    spec = {**GOOD, **{k: v[0] for k, v in BAD.items()}}
    for name, text in spec.items():
        _image(images / name, rng)
        if text is not None:
            (labels / name).with_suffix(".txt").write_text(text)
    return sorted(str(p) for p in images.iterdir())


@pytest.fixture
def defects(tmp_path: Path) -> list[str]:
    return make_defects(tmp_path / "données d'été 1")


@pytest.fixture
def logs() -> list[logging.LogRecord]:
    """Records sent to the yoloforge logger (which may not propagate to pytest's caplog)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    level = LOGGER.level
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    yield records
    LOGGER.removeHandler(handler)
    LOGGER.setLevel(level)


def _by_name(items: list[L.ImageLabels]) -> dict[str, L.ImageLabels]:
    return {Path(x.im_file).name: x for x in items}


def _same(a: list[L.ImageLabels], b: list[L.ImageLabels]) -> None:
    assert [x.im_file for x in a] == [x.im_file for x in b]
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape and len(x.segments) == len(y.segments)
        np.testing.assert_array_equal(x.cls, y.cls)
        np.testing.assert_array_equal(x.bboxes, y.bboxes)
        for s, t in zip(x.segments, y.segments, strict=True):
            np.testing.assert_array_equal(s, t)


def _coco(root: Path, split: str = "train2017") -> list[str]:
    return sorted(str(p) for p in (root / "images" / split).glob("*.jpg"))


# --- coco128 -----------------------------------------------------------------------------------


def test_coco128_train_counts_and_cache(coco128_copy: Path, logs: list[logging.LogRecord]) -> None:
    files = _coco(coco128_copy)
    labels, report = load_labels(files, 80, prefix="train")
    assert (report.images, report.backgrounds, report.instances) == (128, 2, 929)
    assert report.skipped == {} and report.fixed == {} and report.messages == ()
    assert report.summary() == "train: 128 images, 2 backgrounds, 929 instances"
    assert any(r.getMessage().startswith("train: 128 images") for r in logs)
    assert all(lb.cls.dtype == np.int64 and lb.bboxes.dtype == np.float32 for lb in labels)
    assert all(lb.bboxes.shape == (len(lb.cls), 4) and lb.segments == () for lb in labels)
    backgrounds = sorted(Path(lb.im_file).stem for lb in labels if len(lb.cls) == 0)
    assert backgrounds == ["000000000250", "000000000508"]
    assert cache_path(files).parent == coco128_copy / "labels"
    assert re.fullmatch(r"train2017\.[0-9a-f]{8}\.yoloforge\.cache", cache_path(files).name)
    assert cache_path(files).is_file()


def test_coco128_val_and_list_images(coco128_dir: Path) -> None:
    files = list_images(coco128_dir / "images" / "val2017")
    _, report = load_labels(files, 80, cache=False, workers=0)  # read-only dataset: no cache
    assert report.summary() == "val2017: 128 images, 0 backgrounds, 898 instances"


def test_pool_matches_in_process(coco128_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pools = []

    class Spy(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs) -> None:
            pools.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(L, "ProcessPoolExecutor", Spy)
    files = _coco(coco128_dir)
    serial, r1 = load_labels(files, 80, cache=False, workers=0)
    assert pools == []
    pooled, r2 = load_labels(files, 80, cache=False, workers=2)
    assert pools == [(2,)]
    _same(serial, pooled)
    assert r1 == r2


def test_ultralytics_pickle_cache_is_never_loaded(coco128_copy: Path, coco128_dir: Path, tmp_path: Path) -> None:
    files = _coco(coco128_copy)
    # Their pickled cache placed under our name must be refused (numpy with allow_pickle=False)...
    shutil.copy(coco128_dir / "labels" / "train2017.cache", cache_path(files))
    _, report = load_labels(files, 80, workers=0)
    assert report.instances == 929
    # ...and so must a malicious pickle, whose loading would create `marker`.
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    cache_path(files).write_bytes(pickle.dumps(Evil()))
    _, report = load_labels(files, 80, workers=0)
    assert report.instances == 929 and not marker.exists()
    with np.load(cache_path(files), allow_pickle=False) as z:  # rewritten as our own npz
        assert z["version"].tobytes() == L.CACHE_VERSION.encode()


# --- every defect ------------------------------------------------------------------------------


def test_defects_summary_and_messages(defects: list[str], logs: list[logging.LogRecord]) -> None:
    labels, report = load_labels(defects, NC, prefix=SPLIT, cache=False)
    assert report.summary() == DEFECTS_SUMMARY
    assert {Path(x.im_file).name for x in labels} == set(GOOD)
    assert sum(report.skipped.values()) == len(BAD)
    lb_dir = Path(label_paths_for(defects[:1])[0]).parent
    for name, (_, reason, line) in BAD.items():
        where = f"{lb_dir / Path(name).stem}.txt:{line}:" if line else str(Path(defects[0]).parent / name)
        assert [m for m in report.messages if m.startswith(where) and reason in m], (name, report.messages)
    fixes = {
        "dup.txt:2: duplicate of line 1",
        "dup.txt:4: duplicate of line 1",
        "zero area.txt:2: zero-area box",
        "clip.txt:2: box extends outside the image",
    }
    for fix in fixes:
        assert [m for m in report.messages if m.startswith(str(lb_dir / fix.split(":")[0])) and fix in m], fix
    assert len(report.messages) == len(BAD) + len(fixes)
    logged = [r.getMessage() for r in logs]
    assert logged[-1] == DEFECTS_SUMMARY and sum(r.levelno == logging.WARNING for r in logs) == 12


def test_defects_rows(defects: list[str]) -> None:
    got = _by_name(load_labels(defects, NC, cache=False)[0])
    assert got["dup.jpg"].cls.tolist() == [0, 1]
    assert got["zero area.png"].cls.tolist() == [0]
    assert got["empty.jpg"].cls.size == got["nolabel.jpg"].cls.size == 0
    assert got["exif.jpg"].shape == (32, 24) and got["good.jpg"].shape == (24, 32)
    poly = got["poly.jpg"]
    assert poly.cls.tolist() == [2, 0] and len(poly.segments) == 2
    np.testing.assert_allclose(poly.bboxes[0], [0.3, 0.35, 0.4, 0.5], atol=1e-6)
    assert poly.segments[0].shape == (4, 2) and poly.segments[0].dtype == np.float32
    np.testing.assert_allclose(poly.segments[1], [[0.6, 0.6], [0.8, 0.6], [0.8, 0.8], [0.6, 0.8]], atol=1e-6)
    clip = got["clip.jpg"].bboxes
    np.testing.assert_allclose(clip[0], [0.5, 0.5, 1.0, 0.5], atol=1e-6)  # 1.0004 rounded to 1
    np.testing.assert_allclose(clip[1], [0.925, 0.5, 0.15, 0.2], atol=1e-6)  # 0.85..1.05 -> 0.85..1
    for lb in got.values():
        assert ((lb.bboxes >= 0) & (lb.bboxes <= 1)).all()


def test_single_cls_and_classes(defects: list[str]) -> None:
    got = _by_name(load_labels(defects, NC, single_cls=True, cache=False)[0])
    assert got["poly.jpg"].cls.tolist() == [0, 0] and got["good.jpg"].cls.tolist() == [0, 0]
    labels, report = load_labels(defects, NC, classes=[2], cache=False)
    got = _by_name(labels)
    assert got["poly.jpg"].cls.tolist() == [2] and len(got["poly.jpg"].segments) == 1  # not renumbered
    assert got["good.jpg"].cls.size == 0 and report.instances == 1
    with pytest.raises(ValueError, match="classes"):
        load_labels(defects, NC, classes=[3])


def test_max_drop(tmp_path: Path) -> None:
    files = make_defects(tmp_path / "ds")
    bad = [f for f in files if Path(f).name in BAD]
    good = next(f for f in files if Path(f).name == "good.jpg")
    with pytest.raises(LabelError, match=r"val: 8 of 9 images .*3 corrupt image") as e:
        load_labels([*bad, good], NC, cache=False, prefix="val")
    assert isinstance(e.value, ValueError)
    _, report = load_labels([*bad, good], NC, cache=False, max_drop=1.0)
    assert report.images == 1 and report.prefix == "train"  # split named after the images folder


def test_logged_defects_are_capped(tmp_path: Path, logs: list[logging.LogRecord]) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (labels / "a.txt").write_text(f"{BOX}\n" * 26)
    _, report = load_labels([str(images / "a.png")], 1, cache=False)
    assert len(report.messages) == 25 and report.fixed == {"duplicate": 25}
    warnings = [r.getMessage() for r in logs if r.levelno == logging.WARNING]
    assert len(warnings) == 21 and warnings[-1].startswith("... and 5 more")


# --- cache -------------------------------------------------------------------------------------


def _count_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = L._check_one

    def spy(pair, s):
        calls.append(pair[0])
        return real(pair, s)

    monkeypatch.setattr(L, "_check_one", spy)
    return calls


def test_cache_hit_uses_no_pool_and_matches(defects: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    first, r1 = load_labels(defects, NC, prefix=SPLIT)
    cache = cache_path(defects)
    assert re.fullmatch(rf"{SPLIT}\.[0-9a-f]{{8}}\.yoloforge\.cache", cache.name) and cache.is_file()
    mtime = cache.stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("cache hit expected: nothing may be verified again")

    monkeypatch.setattr(L, "ProcessPoolExecutor", boom)
    monkeypatch.setattr(L, "verify_image", boom)
    second, r2 = load_labels(defects, NC, prefix=SPLIT)
    _same(first, second)
    assert r1 == r2 and r2.summary() == DEFECTS_SUMMARY
    assert cache.stat().st_mtime_ns == mtime


def test_cache_rebuilds_on_change(defects: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_checks(monkeypatch)
    load_labels(defects, NC, workers=0)
    assert len(calls) == len(defects)
    load_labels(defects, NC, workers=0)
    assert len(calls) == len(defects)  # hit
    label = Path(label_paths_for(defects)[0])
    st = label.stat()
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched
    load_labels(defects, NC, workers=0)
    assert len(calls) == 2 * len(defects)
    labels, _ = load_labels(defects, NC, workers=0, single_cls=True)  # a setting that changes labels
    assert len(calls) == 3 * len(defects) and all((lb.cls == 0).all() for lb in labels)
    load_labels(defects, NC, workers=0, single_cls=True)
    assert len(calls) == 3 * len(defects)
    cache_path(defects).write_bytes(b"garbage")  # damaged: rebuilt, never an error
    load_labels(defects, NC, workers=0, single_cls=True)
    assert len(calls) == 4 * len(defects)


def test_readonly_folder_keeps_result_in_memory(
    defects: list[str], monkeypatch: pytest.MonkeyPatch, logs: list[logging.LogRecord]
) -> None:
    folder = cache_path(defects).parent
    folder.chmod(0o555)
    immutable = False
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: make the folder immutable instead
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
            immutable = done.returncode == 0
            if not immutable:
                pytest.skip("running as root and chattr +i is unavailable: cannot make a read-only folder")
        calls = _count_checks(monkeypatch)
        labels, report = load_labels(defects, NC, workers=0, prefix=SPLIT)
        assert report.summary() == DEFECTS_SUMMARY and not cache_path(defects).exists()
        warned = [r.getMessage() for r in logs if "cannot write label cache" in r.getMessage()]
        assert len(warned) == 1 and str(cache_path(defects)) in warned[0]
        again, _ = load_labels(defects, NC, workers=0, prefix=SPLIT)  # from memory, no new warning
        _same(labels, again)
        assert len(calls) == len(defects)
        assert sum("cannot write label cache" in r.getMessage() for r in logs) == 1
        assert list(folder.glob("*.tmp")) == []
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_label_paths_convention(tmp_path: Path) -> None:
    ims = ["/d/images/train/a.jpg", "/d/images/x/images/b.PNG", "/d/other/c.jpeg", "rel/images/d e.webp"]
    expected = ["/d/labels/train/a.txt", "/d/images/x/labels/b.txt", "/d/other/c.txt", "rel/labels/d e.txt"]
    assert label_paths_for(ims) == expected
