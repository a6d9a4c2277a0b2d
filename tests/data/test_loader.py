"""build_dataloader: determinism across worker counts, sharding, epochs and close-mosaic in workers."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch

from yoloforge.cfg.schema import RunConfig
from yoloforge.data.dataset import DetectionDataset, SampleKey
from yoloforge.data.files import list_images
from yoloforge.data.loader import EpochSampler, build_dataloader, collate, targets


@pytest.fixture(scope="module")
def train_ds(tmp_path_factory: pytest.TempPathFactory, coco128_dir: Path) -> DetectionDataset:
    dst = tmp_path_factory.mktemp("coco") / "coco128"
    for sub in ("images/train2017", "labels/train2017"):
        shutil.copytree(coco128_dir / sub, dst / sub)
    im = list_images(dst / "images" / "train2017")[:24]
    cfg = RunConfig(imgsz=160, mosaic=1.0, mixup=0.5, workers=2, seed=3)
    return DetectionDataset(im, 80, None, cfg, augment=True)


def batches(loader, n: int = 2) -> list[dict]:
    it = iter(loader)
    return [next(it) for _ in range(n)]


def same(a: list[dict], b: list[dict]) -> bool:
    pairs = zip(a, b, strict=True)
    return all(torch.equal(x["img"], y["img"]) and torch.equal(targets(x), targets(y)) for x, y in pairs)


def test_same_seed_same_batches_with_0_and_2_workers(train_ds: DetectionDataset) -> None:
    w0 = batches(build_dataloader(train_ds, 4, 0, shuffle=True, seed=7))
    w2 = batches(build_dataloader(train_ds, 4, 2, shuffle=True, seed=7))
    assert same(w0, w2) and same(w0, batches(build_dataloader(train_ds, 4, 0, shuffle=True, seed=7)))
    other = batches(build_dataloader(train_ds, 4, 0, shuffle=True, seed=8))
    assert not same(w0, other)


def test_batch_local_partners_are_deterministic_too(train_ds: DetectionDataset) -> None:
    ds = DetectionDataset(train_ds.im_files, 80, None, train_ds.cfg, augment=True, partners="batch")
    w0 = batches(build_dataloader(ds, 4, 0, shuffle=True, seed=7), 1)
    assert same(w0, batches(build_dataloader(ds, 4, 2, shuffle=True, seed=7), 1))
    assert not same(w0, batches(build_dataloader(train_ds, 4, 0, shuffle=True, seed=7), 1))


def test_epochs_reach_persistent_workers(train_ds: DetectionDataset) -> None:
    loader = build_dataloader(train_ds, 4, 2, shuffle=True, seed=7)
    assert loader.persistent_workers
    e0 = batches(loader)
    loader.set_epoch(1)
    e1 = batches(loader)
    assert not same(e0, e1)  # a new order and new augmentations...
    ref = build_dataloader(train_ds, 4, 0, shuffle=True, seed=7)
    ref.set_epoch(1)
    assert same(e1, batches(ref))  # ...the very ones epoch 1 gets in the main process


def test_close_mosaic_reaches_workers(train_ds: DetectionDataset) -> None:
    loader = build_dataloader(train_ds, 4, 2, shuffle=True, seed=7)
    mixed = batches(loader, 1)
    loader.close_mosaic()
    closed = batches(loader, 1)
    ref = build_dataloader(train_ds, 4, 0, shuffle=True, seed=7)
    ref.close_mosaic()
    assert same(closed, batches(ref, 1)) and not same(mixed, closed)
    # without mosaic/mixup each image keeps at most its own boxes
    for j, f in enumerate(closed[0]["im_file"]):
        lb = next(lb for lb in train_ds.labels if lb.im_file == f)
        assert (closed[0]["batch_idx"] == j).sum() <= len(lb.cls)


def test_distributed_shards_are_disjoint_and_cover() -> None:
    shards = []
    for rank in (0, 1):
        s = EpochSampler(128, shuffle=True, seed=0, rank=rank, world_size=2)
        s.set_epoch(3)
        keys = list(s)
        assert len(keys) == len(s) == 64 and all(k.epoch == 3 for k in keys)
        shards.append({k.index for k in keys})
    assert not shards[0] & shards[1] and shards[0] | shards[1] == set(range(128))
    odd = [list(EpochSampler(5, rank=r, world_size=2).indices()) for r in (0, 1)]
    assert [len(x) for x in odd] == [3, 3] and set(odd[0]) | set(odd[1]) == set(range(5))


def test_distributed_rect_deals_whole_batches() -> None:
    s = [EpochSampler(10, rank=r, world_size=2, group=4) for r in (0, 1)]
    assert s[0].indices() == [0, 1, 2, 3, 8, 9] and s[1].indices() == [4, 5, 6, 7, 0, 1, 2, 3]
    assert [len(x) for x in s] == [6, 8]


def test_loader_uses_sharded_sampler(train_ds: DetectionDataset) -> None:
    loaders = [build_dataloader(train_ds, 4, 0, shuffle=True, seed=1, rank=r, world_size=2) for r in (0, 1)]
    seen = [{f for b in ld for f in b["im_file"]} for ld in loaders]
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == len(train_ds)


def test_rect_training_is_not_shuffled(train_ds: DetectionDataset, caplog) -> None:
    train_ds.rect = True
    try:
        with caplog.at_level(logging.WARNING, logger="yoloforge"):
            loader = build_dataloader(train_ds, 4, 0, shuffle=True)
    finally:
        train_ds.rect = False
    assert not loader.sampler.shuffle and "shuffle" in caplog.text


def test_collate_and_targets() -> None:
    def sample(n: int) -> dict:
        return {
            "img": torch.zeros(3, 32, 64, dtype=torch.uint8),
            "cls": torch.arange(n, dtype=torch.float32).reshape(-1, 1),
            "bboxes": torch.rand(n, 4),
            "im_file": f"{n}.jpg",
            "ori_shape": (10, 20),
            "resized_shape": (32, 64),
            "ratio_pad": None,
        }

    b = collate([sample(2), sample(0), sample(3)])
    assert b["img"].shape == (3, 3, 32, 64) and b["batch_idx"].tolist() == [0, 0, 2, 2, 2]
    assert "targets" not in b and targets(b).shape == (5, 6) and targets(b)[:, 1].tolist() == [0, 1, 0, 1, 2]
    assert torch.equal(targets(b)[:, 0], b["batch_idx"]) and torch.equal(targets(b)[:, 2:], b["bboxes"])
    assert SampleKey(5).epoch == 0 and SampleKey(5).mix


def test_getitems_writes_one_batch_that_collate_keeps(train_ds: DetectionDataset) -> None:
    keys = [SampleKey(i, 0, 5) for i in (3, 1, 4, 1)]
    items = train_ds.__getitems__(keys)
    assert all(torch.equal(it["img"], train_ds[k]["img"]) for it, k in zip(items, keys, strict=True))
    b = collate(items)
    assert b["img"].untyped_storage().data_ptr() == items[0]["img"].untyped_storage().data_ptr()  # no copy
    assert torch.equal(b["img"][2], items[2]["img"])
