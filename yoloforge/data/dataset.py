"""DetectionDataset: image files + YOLO labels -> augmented, letterboxed training/validation samples.

Each image is decoded once and resized so its long side is `imgsz` (bilinear, sizes rounded up and
capped at imgsz: Ultralytics' validation images exactly, so mAP figures compare). Resized images come
from the RAM cache, the disk cache or a per-process LRU buffer (see cache.py), never re-decoded while they
stay hot.
Mosaic, mixup and cutmix partners come from the whole dataset, or, when decoding on demand from a
dataset bigger than the buffer, from the batch being built (`partners`, see _BatchPartners).

Randomness is keyed: the loader's sampler yields `SampleKey(index, epoch, seed, mix)` and the sample
is drawn with `default_rng([seed, epoch, index])`, so a batch is the same whatever the number of
workers, and the epoch and the close-mosaic switch reach persistent workers inside the keys.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from yoloforge.cfg.schema import RunConfig
from yoloforge.data.cache import DiskCache, GiB, ImageBuffer, RamCache, available_memory, ram_cache_fits
from yoloforge.data.images import read_image
from yoloforge.utils.boxes import xywhn2xyxy, xyxy2xywhn
from yoloforge.utils.log import LOGGER


class SampleKey(NamedTuple):
    """What the sampler hands a worker: which image, and the state that must reach the worker."""

    index: int
    epoch: int = 0
    seed: int | None = None  # None: draw from the worker's own generator (not reproducible)
    mix: bool = True  # False after close_mosaic: no mosaic, mixup or cutmix


def resized_shape(h0: int, w0: int, imgsz: int) -> tuple[int, int]:
    """(h, w) with the long side scaled to imgsz, aspect ratio kept (rounded up, capped at imgsz)."""
    r = imgsz / max(h0, w0)
    if r == 1:
        return h0, w0
    return min(max(math.ceil(h0 * r), 1), imgsz), min(max(math.ceil(w0 * r), 1), imgsz)


def rect_batches(
    shapes: np.ndarray, batch_size: int, imgsz: int, stride: int = 32, pad: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Sort images by aspect ratio and give each batch the smallest stride-multiple shape holding it.

    `shapes` are the original (h, w). Returns (order, batch_shapes): dataset index i (after sorting by
    `order`) belongs to batch i // batch_size with shape batch_shapes[i // batch_size] (h, w). A batch's
    shape follows its extreme aspect ratios, `ceil(aspect * imgsz / stride + pad) * stride` (the
    Ultralytics' rule, so validation numbers compare); batches mixing portrait and landscape are square.
    """
    shapes = np.asarray(shapes, dtype=np.float64).reshape(-1, 2)
    ar = shapes[:, 0] / shapes[:, 1]
    order = np.argsort(ar)  # NumPy's default sort, as Ultralytics: equal ratios land in the same batches
    ar = ar[order]
    nb = -(-len(ar) // batch_size)
    out = np.empty((nb, 2), dtype=np.int64)
    for b in range(nb):
        ari = ar[b * batch_size : (b + 1) * batch_size]
        lo, hi = ari.min(), ari.max()
        rel = (hi, 1.0) if hi < 1 else (1.0, 1.0 / lo) if lo > 1 else (1.0, 1.0)
        out[b] = np.ceil(np.asarray(rel) * imgsz / stride + pad).astype(np.int64) * stride
    return order, out


def _scaled_segments(segments: Sequence[np.ndarray], w: int, h: int) -> list[np.ndarray]:
    """Normalised polygons -> pixel polygons, in one vectorised multiply over all their points."""
    if not len(segments):
        return []
    from yoloforge.data.augment.instances import pack_segments, unpack_segments

    pts, starts = pack_segments(segments)
    return unpack_segments(pts * np.float32([w, h]), starts)


def _cache_mode(cache: bool | str) -> str | None:
    if cache is True or cache == "ram":
        return "ram"
    return "disk" if cache == "disk" else None


def _imgsz(cfg: RunConfig, imgsz: int | None) -> int:
    if imgsz is not None:
        return int(imgsz)
    return cfg.long_side


class DetectionDataset(Dataset):
    """A detection split; also the `SampleSource` the mix transforms draw extra images from.

    `im_files` are a split's images (`files.list_images`); labels come from `labels.load_labels`
    after `cfg.fraction` keeps the first part of the list; `cfg.single_cls` and `cfg.classes` filter
    rows there. `augment` selects the train transforms; `rect` (default: cfg.rect for training,
    always for validation) sorts images by aspect ratio into batches of `batch_size` letterboxed to
    `batch_shapes` (stride multiples plus `pad` strides). `cfg.cache` picks the cache (cache.py);
    `buffer_bytes` caps the per-process LRU used without one (default: a share of free memory).
    """

    def __init__(
        self,
        im_files: Sequence[str],
        nc: int,
        names: Sequence[str] | dict[int, str] | None = None,
        cfg: RunConfig | None = None,
        *,
        augment: bool = False,
        rect: bool | None = None,
        batch_size: int = 16,
        stride: int = 32,
        pad: float | None = None,
        imgsz: int | None = None,
        buffer_bytes: int | None = None,
        partners: Literal["auto", "dataset", "batch"] = "auto",
        prefix: str = "",
    ) -> None:
        self.cfg = cfg = cfg if cfg is not None else RunConfig()
        self.nc, self.names, self.prefix = nc, names, prefix
        self.imgsz = _imgsz(cfg, imgsz)
        self.augment = augment
        # Validation is always rectangular; training only when asked (then mosaic is off).
        self.rect = (cfg.rect if augment else True) if rect is None else rect
        # Rect margin in strides: half a stride for validation (as Ultralytics: comparable mAP), none for training.
        self.pad = (0.0 if augment else 0.5) if pad is None else pad
        self.batch_size, self.stride = max(int(batch_size), 1), stride
        self.labels, self.label_report = self._load_labels(im_files)
        self.ori_shapes = [(int(lb.shape[0]), int(lb.shape[1])) for lb in self.labels]
        self.shapes = [resized_shape(h, w, self.imgsz) for h, w in self.ori_shapes]
        self.batch_shapes = None
        if self.rect:
            self._sort_for_rect()
        self.im_files = [lb.im_file for lb in self.labels]  # in dataset order (rect: sorted by aspect)
        self.rng = np.random.default_rng(cfg.seed)  # per worker: re-seeded by the loader's worker_init_fn
        self.buffer = ImageBuffer(self._buffer_cap() if buffer_bytes is None else buffer_bytes)
        self.ram: RamCache | None = None
        self.disk: DiskCache | None = None
        self._setup_cache(_cache_mode(cfg.cache))
        self.partners = _BatchPartners(self, self._batch_local(partners))
        self._train: Any = None  # the train transforms (a Compose), built on first use
        self._train_mix = True

    # --- construction --------------------------------------------------------------------------
    def _load_labels(self, im_files: Sequence[str]) -> tuple[list, Any]:
        """Verified labels; a training split (augment) must have label files for MIN_LABELLED of its images."""
        from yoloforge.data.labels import MIN_LABELLED, load_labels

        files = list(im_files)
        if self.cfg.fraction < 1.0:
            files = files[: max(1, round(len(files) * self.cfg.fraction))]
        labels, report = load_labels(
            files,
            self.nc,
            names=self.names,
            single_cls=self.cfg.single_cls,
            classes=self.cfg.classes,
            workers=min(max(self.cfg.workers, 1), os.cpu_count() or 1, 8),
            min_labelled=MIN_LABELLED if self.augment else 0.0,
            prefix=self.prefix,
        )
        return list(labels), report

    def _sort_for_rect(self) -> None:
        order, self.batch_shapes = rect_batches(
            np.array(self.ori_shapes), self.batch_size, self.imgsz, self.stride, self.pad
        )
        self.labels = [self.labels[i] for i in order]
        self.ori_shapes = [self.ori_shapes[i] for i in order]
        self.shapes = [self.shapes[i] for i in order]

    def _buffer_cap(self) -> int:
        """Per-process LRU size: 10% of free memory shared by the main process and each worker, <= 1 GiB."""
        return int(min(GiB, 0.1 * available_memory() / (self.cfg.workers + 1)))

    def _batch_local(self, partners: str) -> bool:
        """Draw mix partners from the batch? 'auto': when images are decoded on demand and the resized
        dataset outgrows the largest per-process buffer (uniform picks would then mostly decode)."""
        if partners not in ("auto", "dataset", "batch"):
            raise ValueError(f"partners must be 'auto', 'dataset' or 'batch', not {partners!r}")
        if partners != "auto":
            return partners == "batch"
        return self.ram is None and self.disk is None and sum(h * w * 3 for h, w in self.shapes) > GiB

    def _setup_cache(self, mode: str | None) -> None:
        threads = min(8, os.cpu_count() or 1)
        if mode == "ram":
            need = sum(h * w * 3 for h, w in self.shapes)
            fits, avail = ram_cache_fits(need)
            if not fits:
                LOGGER.warning(
                    "%scache='ram' needs %.1f GB but %.1f GB is free; caching nothing",
                    self.prefix,
                    need / 1e9,
                    avail / 1e9,
                )
                return
            self.ram = RamCache(self.shapes)
            self.ram.fill(self._decode_resized, threads)
            LOGGER.info("%scached %d images in RAM (%.2f GB, shared)", self.prefix, len(self), need / 1e9)
        elif mode == "disk":
            self._setup_disk_cache(threads)

    def _setup_disk_cache(self, threads: int) -> None:
        disk = DiskCache(self.im_files, self.ori_shapes)
        if not disk.writable():
            LOGGER.warning("%scache='disk': an image folder is read-only; caching nothing", self.prefix)
            return
        try:
            n = disk.fill(lambda i: read_image(self.im_files[i]), threads)
        except OSError as e:
            LOGGER.warning("%scache='disk' failed (%s); caching nothing", self.prefix, e)
            return
        self.disk = disk
        LOGGER.info("%scache='disk': %d .npy files written, %d reused", self.prefix, n, len(self) - n)

    # --- the SampleSource protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.labels)

    def _decode_resized(self, i: int) -> np.ndarray:
        """Decode image i (or load its .npy) and resize it to its long-side-imgsz shape."""
        im = self.disk.load(i) if self.disk is not None else read_image(self.labels[i].im_file)
        h, w = self.shapes[i]
        if im.shape[:2] == (h, w):
            return im
        return cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR)

    def load_image(self, i: int) -> np.ndarray:
        """The resized image i, read-only (shared with the cache: copy before writing into it)."""
        if self.ram is not None:
            return self.ram.get(i)
        im = self.buffer.get(i)
        return im if im is not None else self.buffer.put(i, self._decode_resized(i))

    def load_sample(self, i: int) -> dict[str, Any]:
        """Image i resized (long side imgsz) with its labels in its pixels: the transforms' input."""
        lb = self.labels[i]
        img = self.load_image(i)
        h, w = img.shape[:2]
        return {
            "img": img,
            "cls": np.array(lb.cls, dtype=np.int64).reshape(-1),
            "bboxes": xywhn2xyxy(lb.bboxes.astype(np.float32, copy=False).reshape(-1, 4), w, h),
            "segments": _scaled_segments(lb.segments, w, h),
            "im_file": lb.im_file,
            "ori_shape": self.ori_shapes[i],
            "resized_shape": (h, w),
        }

    # --- samples -------------------------------------------------------------------------------
    def _resolve(self, key: int | SampleKey) -> tuple[int, np.random.Generator, bool]:
        if isinstance(key, SampleKey):
            rng = self.rng if key.seed is None else np.random.default_rng([key.seed, key.epoch, key.index])
            return int(key.index), rng, key.mix
        return int(key), self.rng, True  # plain indices always mix; keys carry their own switch

    def _pipeline(self, mix: bool) -> Any:
        """The training transforms (built on first use), with mosaic/mixup/cutmix switched by `mix`.

        Rect training letterboxes to the batch shape first and then runs only the transforms that
        keep the shape (colour, flips): augment's affine stage always outputs imgsz x imgsz.
        """
        if self._train is None:
            from yoloforge.data.augment import build_train_transforms

            self._train = build_train_transforms(self.cfg, self.imgsz, self.partners, rect=self.rect)
        if mix != self._train_mix:
            self._train.set_mix(mix)
            self._train_mix = mix
        return self._train

    def _letterboxed(self, sample: dict[str, Any], i: int) -> dict[str, Any]:
        """Letterbox to the image's rect batch shape (or imgsz square): validation and rect training.

        Sets "ratio_pad", the RatioPad from "ori_shape" to the output, which `utils.boxes.scale_boxes`
        (the validator) reads.
        """
        from yoloforge.data.augment.letterbox import LetterBox

        if self.rect:
            sample["rect_shape"] = tuple(int(x) for x in self.batch_shapes[i // self.batch_size])
        return LetterBox(self.imgsz, auto=False, scaleup=self.augment, stride=self.stride)(sample)

    def sample(self, key: int | SampleKey) -> dict[str, Any]:
        """The transformed (train) or letterboxed (val, rect) sample, still HWC BGR in pixels."""
        i, rng, mix = self._resolve(key)
        sample = self.load_sample(i)
        if self.augment and not self.rect:
            return self._pipeline(mix)(sample, rng)
        sample = self._letterboxed(sample, i)
        return self._pipeline(mix)(sample, rng) if self.augment else sample

    def __getitem__(self, key: int | SampleKey) -> dict[str, Any]:
        return to_output(self.sample(key))

    def __getitems__(self, keys: Sequence[int | SampleKey]) -> list[dict[str, Any]]:
        """A batch (torch's fetcher calls this): images written straight into one batch tensor.

        The samples' "img" are consecutive views of that tensor, which `loader.collate` hands on
        without stacking; inside a worker it lives in shared memory, so sending it copies nothing.
        """
        with self.partners.drawing_from(keys):
            samples = [self.sample(k) for k in keys]
        shape = samples[0]["img"].shape if samples else None
        if shape is None or len(shape) != 3 or any(s["img"].shape != shape for s in samples):
            return [to_output(s) for s in samples]
        batch = new_batch_tensor((len(samples), 3, shape[0], shape[1]))
        return [to_output(s, out=batch[b]) for b, s in enumerate(samples)]


class _BatchPartners:
    """The `SampleSource` the mix transforms get: the whole dataset, or (batch-local mode, while a
    batch is being built) only that batch's images, which this process has just decoded anyway.

    Uniform picks over a dataset larger than the image buffer decode 3 extra images per mosaic;
    batch-local picks decode none, like Ultralytics' picks among its recent images, yet stay a
    function of the batch's keys, so results still do not depend on the number of workers.
    """

    def __init__(self, dataset: DetectionDataset, batch_local: bool) -> None:
        self.dataset, self.batch_local = dataset, batch_local
        self.pool: list[int] | None = None

    def __len__(self) -> int:
        return len(self.pool) if self.pool else len(self.dataset)

    def load_sample(self, i: int) -> dict[str, Any]:
        return self.dataset.load_sample(self.pool[i] if self.pool else i)

    @contextlib.contextmanager
    def drawing_from(self, keys: Sequence[int | SampleKey]) -> Iterator[None]:
        if self.batch_local:
            self.pool = [int(k.index if isinstance(k, SampleKey) else k) for k in keys]
        try:
            yield
        finally:
            self.pool = None


def new_batch_tensor(shape: tuple[int, ...]) -> torch.Tensor:
    """An uninitialised uint8 tensor; in a DataLoader worker, in shared memory (as default_collate does)."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    storage = torch.UntypedStorage._new_shared(int(np.prod(shape)))
    return torch.empty(0, dtype=torch.uint8).set_(storage, 0, shape)


def to_output(sample: dict[str, Any], out: torch.Tensor | None = None) -> dict[str, Any]:
    """The model-facing sample: CHW RGB uint8 tensor (written into `out` when given), (n, 1) float
    classes, normalised xywh boxes."""
    img = sample["img"]
    h, w = img.shape[:2]
    chw = np.empty((3, h, w), np.uint8) if out is None else out.numpy()
    planes = cv2.split(img, [chw[2], chw[1], chw[0]])  # BGR HWC -> RGB CHW: 6x faster than a transpose
    if not np.may_share_memory(planes[0], chw):  # OpenCV reallocated (not HxWx3 uint8): do it plainly
        chw[...] = np.asarray(img, np.uint8).transpose(2, 0, 1)[::-1]
    cls = np.asarray(sample["cls"], dtype=np.float32).reshape(-1, 1)
    return {
        "img": torch.from_numpy(chw) if out is None else out,
        "cls": torch.from_numpy(cls),
        "bboxes": torch.from_numpy(xyxy2xywhn(np.asarray(sample["bboxes"], np.float32).reshape(-1, 4), w, h)),
        "im_file": sample["im_file"],
        "ori_shape": tuple(sample["ori_shape"]),
        "resized_shape": tuple(sample["resized_shape"]),
        "ratio_pad": sample.get("ratio_pad"),
    }
