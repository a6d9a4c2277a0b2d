"""DetectionDataset on real coco128 files: labels, augmented and rect batches, caches, filters."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import subprocess
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import numpy as np
import pytest
import torch

from yoloforge.cfg.schema import RunConfig
from yoloforge.data import cache as cache_mod
from yoloforge.data import dataset as dataset_mod
from yoloforge.data.dataset import DetectionDataset, SampleKey, rect_batches, resized_shape
from yoloforge.data.files import list_images
from yoloforge.data.loader import build_dataloader, targets
from yoloforge.utils.boxes import xywhn2xyxy as xywhn_to_xyxy

NC = 80


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory, coco128_dir: Path) -> Path:
    """One writable copy of coco128's train split for the module (label cache written once)."""
    dst = tmp_path_factory.mktemp("coco") / "coco128"
    for sub in ("images/train2017", "labels/train2017"):
        shutil.copytree(coco128_dir / sub, dst / sub)
    return dst


def files(root: Path, n: int | None = None) -> list[str]:
    return list_images(root / "images" / "train2017")[:n]


def make(im_files: list[str], augment: bool = False, **kw) -> DetectionDataset:
    ds_kw = {k: kw.pop(k) for k in ("rect", "batch_size", "pad", "buffer_bytes", "partners") if k in kw}
    cfg = RunConfig(imgsz=kw.pop("imgsz", 160), workers=2, **kw)
    return DetectionDataset(im_files, NC, None, cfg, augment=augment, **ds_kw)


def test_length_and_labels(coco: Path) -> None:
    ds = make(files(coco))
    assert len(ds) == 128  # two label files without an image are not counted
    assert sum(len(lb.cls) for lb in ds.labels) == 929
    assert all(max(s) == 160 for s in ds.shapes)
    s = ds.load_sample(0)
    h, w = s["img"].shape[:2]
    assert (h, w) == ds.shapes[0] and s["bboxes"].dtype == np.float32
    assert (s["bboxes"][:, 2:] <= [w + 1e-3, h + 1e-3]).all()


@pytest.mark.parametrize("imgsz", [160, 320])
def test_train_batch_with_mosaic(coco: Path, imgsz: int) -> None:
    ds = make(files(coco, 16), augment=True, imgsz=imgsz, mosaic=1.0)
    batch = next(iter(build_dataloader(ds, 4, 0, shuffle=True, seed=0)))
    assert batch["img"].shape == (4, 3, imgsz, imgsz) and batch["img"].dtype == torch.uint8
    n = len(batch["cls"])
    assert batch["cls"].shape == (n, 1) and batch["bboxes"].shape == (n, 4) and batch["batch_idx"].shape == (n,)
    assert n > 0 and batch["bboxes"].min() >= 0 and batch["bboxes"].max() <= 1
    assert torch.equal(targets(batch)[:, 0], batch["batch_idx"]) and targets(batch).shape == (n, 6)
    assert set(batch["batch_idx"].tolist()) <= {0.0, 1.0, 2.0, 3.0}


def test_val_rect_batches_minimal_padding(coco: Path) -> None:
    ds = make(files(coco, 64), batch_size=8, pad=0.0)
    assert ds.rect  # validation is always rectangular
    loader = build_dataloader(ds, 8, 0, shuffle=False)
    for b, batch in enumerate(loader):
        h, w = batch["img"].shape[2:]
        assert h % 32 == 0 and w % 32 == 0 and (h, w) == tuple(ds.batch_shapes[b])
        shapes = np.array(ds.shapes[b * 8 : (b + 1) * 8])
        need = (
            shapes.max(0) if (shapes[:, 0] < shapes[:, 1]).all() or (shapes[:, 0] > shapes[:, 1]).all() else (160, 160)
        )
        assert (h, w) == tuple(int(np.ceil(x / 32) * 32) for x in need)  # no more than one stride short of tight
    assert max(ds.batch_shapes.max(1)) == 160 and (ds.batch_shapes.min(1) < 160).any()


def test_rect_batches_pad_and_sorting() -> None:
    shapes = np.array([[100, 160], [160, 90], [120, 160], [160, 160]])
    order, bs = rect_batches(shapes, 2, 160, 32, pad=0.5)
    assert order.tolist() == [0, 2, 3, 1]  # by aspect ratio h / w
    assert bs.tolist() == [[160, 192], [192, 192]]  # +half a stride of margin, rounded to 32
    assert resized_shape(480, 640, 160) == (120, 160)


def test_val_ratio_pad_maps_boxes_back(coco: Path) -> None:
    from yoloforge.utils.boxes import scale_boxes

    ds = make(files(coco, 8), batch_size=4)
    uneven = 0
    for i in range(len(ds)):
        out, lb = ds[i], ds.labels[i]
        h, w = out["img"].shape[1:]
        h0, w0 = out["ori_shape"]
        (gh, gw), _ = out["ratio_pad"]  # ((gain_h, gain_w), (pad_w, pad_h)), as scale_boxes reads it
        uneven += abs(gh - gw) > 1e-4
        back = scale_boxes(xywhn_to_xyxy(out["bboxes"].numpy(), w, h), (h, w), (h0, w0), ratio_pad=out["ratio_pad"])
        np.testing.assert_allclose(back, xywhn_to_xyxy(lb.bboxes, w0, h0), atol=0.05)  # pixels of the original
    assert uneven  # rounding made some x and y gains differ, so a swapped pair would fail above


def test_ram_cache_same_images_and_shared(coco: Path) -> None:
    im = files(coco, 24)
    plain, ram = make(im, batch_size=4), make(im, batch_size=4, cache="ram")
    assert ram.ram is not None and ram.ram.nbytes == sum(h * w * 3 for h, w in ram.shapes)
    for i in range(len(ram)):
        assert np.array_equal(plain.load_image(i), ram.load_image(i))
    with pytest.raises(ValueError):
        ram.load_image(0)[0, 0, 0] = 1  # read-only views: a transform cannot corrupt the cache
    loader = build_dataloader(ram, 4, 2, shuffle=False)
    first = next(iter(loader))
    ram.ram.slot(0)[...] = 7  # written in this process after the workers started...
    again = next(iter(loader))
    h, w = ram.shapes[0]
    (_, _), (pw, ph) = again["ratio_pad"][0]
    crop = again["img"][0, :, int(ph) : int(ph) + h, int(pw) : int(pw) + w]
    assert (crop == 7).all() and not (first["img"][0] == 7).all()  # ...is seen by them: one buffer
    clone = pickle.loads(ForkingPickler.dumps(ram.ram))  # how 'spawn' workers receive it: by handle
    clone.slot(1)[0, 0, 0] = 99
    assert ram.ram.get(1)[0, 0, 0] == 99 and np.array_equal(clone.get(2), plain.load_image(2))


def test_ram_cache_falls_back_when_memory_is_short(coco: Path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(cache_mod, "available_memory", lambda: 1000)
    with caplog.at_level(logging.WARNING, logger="yoloforge"):
        ds = make(files(coco, 8), cache="ram")
    assert ds.ram is None and "cache='ram'" in caplog.text


def _count_decodes(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = dataset_mod.read_image

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(dataset_mod, "read_image", counting)
    return calls


def test_disk_cache_writes_then_reuses(coco128_copy: Path, monkeypatch) -> None:
    im = files(coco128_copy, 12)
    ds = make(im, cache="disk")
    npy = sorted(Path(f).with_suffix(".npy") for f in im)
    assert all(p.exists() for p in npy)
    stamps = [p.stat().st_mtime_ns for p in npy]
    calls = _count_decodes(monkeypatch)
    again = make(im, cache="disk")
    assert again.disk is not None and calls == []  # nothing decoded: every image came from its .npy
    assert [p.stat().st_mtime_ns for p in npy] == stamps
    plain = make(im)
    for i in range(len(ds)):
        assert np.array_equal(again.load_image(i), plain.load_image(i))


def test_disk_cache_read_only_falls_back(coco: Path, tmp_path: Path, caplog) -> None:
    folder = tmp_path / "images" / "train2017"
    folder.mkdir(parents=True)
    (tmp_path / "labels" / "train2017").mkdir(parents=True)
    for f in files(coco, 4):
        shutil.copy(f, folder)
        shutil.copy(coco / "labels" / "train2017" / (Path(f).stem + ".txt"), tmp_path / "labels" / "train2017")
    folder.chmod(0o555)
    immutable = False
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: make the folder immutable instead
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
            immutable = done.returncode == 0
            if not immutable:
                pytest.skip("running as root and chattr +i is unavailable: cannot make a read-only folder")
        with caplog.at_level(logging.WARNING, logger="yoloforge"):
            ds = make(list_images(folder), cache="disk")
        assert ds.disk is None and "read-only" in caplog.text
        assert ds[0]["img"].dtype == torch.uint8
        assert sorted(p.suffix for p in folder.iterdir()) == [".jpg"] * 4  # nothing written beside the images
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


def test_buffer_decodes_each_image_once(coco: Path, monkeypatch) -> None:
    im = files(coco, 16)
    calls = _count_decodes(monkeypatch)
    ds = make(im, augment=True, mosaic=1.0)
    for i in range(32):
        ds[i % 16]
    assert len(calls) == 16 and ds.buffer.hits > 3 * len(calls)
    calls.clear()
    unbuffered = make(im, augment=True, mosaic=1.0, buffer_bytes=0)
    for i in range(32):
        unbuffered[i % 16]
    assert len(calls) >= 4 * 32  # mosaic: four decodes per sample without the buffer


def test_batch_local_partners_decode_only_the_batch(coco: Path, monkeypatch) -> None:
    im = files(coco, 32)
    calls = _count_decodes(monkeypatch)
    ds = make(im, augment=True, mosaic=1.0, mixup=1.0, partners="batch")
    keys = [SampleKey(i, 0, 0) for i in (5, 9, 11, 20)]
    ds.__getitems__(keys)
    assert sorted(calls) == sorted(im[i] for i in (5, 9, 11, 20))  # mosaic and mixup drew from the batch
    assert len(ds.partners) == len(ds)  # outside a batch: the whole dataset
    assert not make(im, augment=True).partners.batch_local  # 'auto' on a small dataset: uniform picks


def test_fraction_single_cls_classes(coco: Path) -> None:
    im = files(coco)
    assert len(make(im, fraction=0.25)) == 32
    single = make(im, single_cls=True)
    assert {int(c) for lb in single.labels for c in lb.cls} == {0}
    only = make(im, classes=[0, 2])
    kept = [c for lb in only.labels for c in lb.cls.tolist()]
    assert set(kept) == {0, 2} and len(only) == 128  # other classes' rows are dropped, images kept


def test_rect_training_batches_keep_their_shape(coco: Path, coco128_copy: Path) -> None:
    ds = make(files(coco, 16), augment=True, rect=True, batch_size=4, pad=0.0, mosaic=1.0)
    loader = build_dataloader(ds, 4, 0, shuffle=False)
    for b, batch in zip(range(2), loader, strict=False):
        assert tuple(batch["img"].shape[2:]) == tuple(ds.batch_shapes[b])
        assert len(batch["bboxes"]) == sum(len(ds.labels[i].cls) for i in range(4 * b, 4 * b + 4))
    # a rect dataset under a non-rect config with mixing on: no mosaic stage for MixUp to call
    cfg = RunConfig(imgsz=160, mixup=1.0)
    mixed = DetectionDataset(
        list_images(coco128_copy / "images" / "train2017"), NC, None, cfg, augment=True, rect=True, batch_size=4
    )
    for i in range(6):
        assert tuple(mixed[i]["img"].shape[1:]) == tuple(mixed.batch_shapes[i // 4])
