"""DataLoader, sampler and collate for DetectionDataset.

The sampler carries the run's state: it yields `SampleKey(index, epoch, seed, mix)`, so the epoch
(for per-sample seeding) and the close-mosaic switch travel with each index to the workers, even
persistent ones whose dataset copy the main process can no longer touch. Call `set_epoch` (and
`close_mosaic`) before iterating an epoch; the sampler's iterator is created by `iter(loader)`.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, default_collate, get_worker_info

from yoloforge.data.dataset import SampleKey
from yoloforge.utils.log import LOGGER


class EpochSampler(Sampler[SampleKey]):
    """Shuffles per epoch (seed + epoch), shards across ranks, and keys each index with run state.

    With world_size > 1 it does what torch's DistributedSampler does (each rank gets
    ceil(n / world_size) indices, padded by repeating the first ones); with `group` > 1 (rect
    batches) whole groups of consecutive indices are dealt to ranks so a rank's batches are the
    dataset's rect batches.
    """

    def __init__(
        self,
        n: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        group: int = 1,
        epoch_seeded: bool = True,
    ) -> None:
        if not 0 <= rank < max(world_size, 1):
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size, self.group = max(rank, 0), max(world_size, 1), max(group, 1)
        self.epoch_seeded = epoch_seeded
        self.epoch = 0
        self.start = 0
        self.mix = True

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch; `start` skips this rank's first `start` samples (resuming inside an epoch)."""
        self.epoch, self.start = int(epoch), int(start)

    def indices(self) -> list[int]:
        """This rank's dataset indices for the current epoch, in order."""
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.world_size == 1:
            return order
        groups = [order[i : i + self.group] for i in range(0, self.n, self.group)]
        per_rank = -(-len(groups) // self.world_size)
        total = per_rank * self.world_size
        groups += (groups * (total // max(len(groups), 1) + 1))[: total - len(groups)]
        return [i for grp in groups[self.rank :: self.world_size] for i in grp]

    def __iter__(self) -> Iterator[SampleKey]:
        seed = self.seed if self.epoch_seeded else None
        for i in self.indices()[self.start :]:
            yield SampleKey(i, self.epoch, seed, self.mix)

    def __len__(self) -> int:
        if self.world_size == 1:
            return self.n
        ngroups = -(-self.n // self.group)
        per_rank = -(-ngroups // self.world_size)
        last = self.n - (ngroups - 1) * self.group  # the size of the final (possibly short) group
        positions = [(k * self.world_size + self.rank) % ngroups for k in range(per_rank)]
        return sum(last if p == ngroups - 1 else self.group for p in positions)


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack images and concatenate labels; cls (N, 1), bboxes (N, 4) xywhn, batch_idx (N,) float32.

    `targets(batch)` gives the (N, 6) [batch_idx, cls, x, y, w, h] tensor. Images that
    DetectionDataset.__getitems__ already wrote into one batch tensor are not copied again. Else,
    in a worker they are stacked straight into shared memory (nothing copied when the batch is
    sent); in the main process numpy does it: torch's intra-op thread pool, woken for each small
    op, costs more than the copy itself on a busy machine (measured 120 ms instead of 2 ms a batch).
    """
    imgs = [s["img"] for s in samples]
    img = _batch_view(imgs)
    if img is None and get_worker_info() is not None:
        img = default_collate(imgs)
    elif img is None:
        img = torch.from_numpy(np.stack([im.numpy() for im in imgs]))
    cls = np.concatenate([np.asarray(s["cls"], np.float32).reshape(-1, 1) for s in samples])
    bboxes = np.concatenate([np.asarray(s["bboxes"], np.float32).reshape(-1, 4) for s in samples])
    batch_idx = np.repeat(np.arange(len(samples), dtype=np.float32), [len(s["cls"]) for s in samples])
    return {
        "img": img,
        "cls": torch.from_numpy(cls),
        "bboxes": torch.from_numpy(bboxes),
        "batch_idx": torch.from_numpy(batch_idx),
        "im_file": [s["im_file"] for s in samples],
        "ori_shape": [s["ori_shape"] for s in samples],
        "resized_shape": [s["resized_shape"] for s in samples],
        "ratio_pad": [s["ratio_pad"] for s in samples],
    }


def _batch_view(imgs: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """The batch tensor when `imgs` are its consecutive slices (DetectionDataset.__getitems__), else None."""
    if not imgs or not all(im.is_contiguous() and im.shape == imgs[0].shape for im in imgs):
        return None
    storage, n = imgs[0].untyped_storage(), imgs[0].numel()
    ptr = storage.data_ptr()
    for b, im in enumerate(imgs):
        if im.untyped_storage().data_ptr() != ptr or im.storage_offset() != b * n:
            return None
    if storage.nbytes() != n * len(imgs) * imgs[0].element_size():
        return None
    return imgs[0].new_empty(0).set_(storage, 0, (len(imgs), *imgs[0].shape))


def targets(batch: dict[str, Any]) -> torch.Tensor:
    """(N, 6) [batch_idx, cls, x, y, w, h] of a collated batch."""
    return torch.cat([batch["batch_idx"].reshape(-1, 1), batch["cls"], batch["bboxes"]], 1)


def seed_worker(worker_id: int) -> None:
    """Seed a worker's generators from torch's per-worker seed (base seed + worker id).

    Workers ignore Ctrl-C: the main process decides (the trainer finishes its batch and saves), and a
    worker that quit on SIGINT would fail the batch the main process is waiting for.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    seed = torch.initial_seed()
    np.random.seed(seed % 2**32)
    random.seed(seed)
    info = get_worker_info()
    if info is not None and hasattr(info.dataset, "rng"):
        info.dataset.rng = np.random.default_rng(seed)
    try:
        import cv2

        cv2.setNumThreads(0)  # the workers are the parallelism; OpenCV threads would oversubscribe
    except ImportError:  # pragma: no cover
        pass


class DetectionLoader(DataLoader):
    """A DataLoader whose epoch and close-mosaic switch reach its (persistent) workers."""

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Call before `iter(loader)`: reshuffles and reseeds the samples of this epoch; `start_batch` > 0 skips
        the first batches (without loading them), so iteration resumes where an interrupted epoch stopped."""
        self.sampler.set_epoch(epoch, start_batch * (self.batch_size or 1))

    def close_mosaic(self) -> None:
        """Turn mosaic, mixup and cutmix off from the next `iter(loader)` on (the last epochs)."""
        self.sampler.mix = False

    @property
    def epoch(self) -> int:
        return self.sampler.epoch


def build_dataloader(
    dataset: Any,
    batch: int,
    workers: int,
    shuffle: bool,
    seed: int = 0,
    rank: int = -1,
    world_size: int = 1,
    epoch_seeded: bool = True,
    *,
    pin_memory: bool | None = None,
    drop_last: bool = False,
) -> DetectionLoader:
    """A loader for `dataset`: per-epoch keyed sampling, sharding when world_size > 1, shared batches.

    Rect datasets are never shuffled (a batch must be one rect group) and need `batch` equal to
    the dataset's batch_size. Workers are capped at the CPUs per rank and at `batch`; they persist
    across epochs. `epoch_seeded=False` draws from each worker's own generator (seeded from
    torch's per-worker seed) instead: then only runs with the same worker count repeat exactly.
    `pin_memory` defaults to whether CUDA is available.
    """
    rect = bool(getattr(dataset, "rect", False))
    if rect and shuffle:
        LOGGER.warning("rect=True is incompatible with shuffle; not shuffling")
        shuffle = False
    if rect and batch != getattr(dataset, "batch_size", batch):
        LOGGER.warning("batch %d differs from the dataset's rect batch size %d", batch, dataset.batch_size)
    nw = min(max(workers, 0), max((os.cpu_count() or 1) // max(world_size, 1), 1), max(batch, 1))
    sampler = EpochSampler(
        len(dataset),
        shuffle=shuffle,
        seed=seed,
        rank=max(rank, 0),
        world_size=world_size,
        group=batch if rect else 1,
        epoch_seeded=epoch_seeded,
    )
    return DetectionLoader(
        dataset,
        batch_size=batch,
        sampler=sampler,
        num_workers=nw,
        collate_fn=collate,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        drop_last=drop_last,
        persistent_workers=nw > 0,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed + max(rank, 0)),
    )
