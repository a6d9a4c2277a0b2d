"""Image caches, so each image is decoded (and resized) once instead of once per use.

Three layers, all returning read-only arrays (a transform that writes into its input would corrupt
the cache for every later use, so such a bug raises instead):

- `ImageBuffer`: a small LRU of recently resized images, per process, capped in bytes. Used when
  caching is off: mosaic, mixup and cutmix pull 3-8 images per sample, and the buffer keeps the
  dataset's hot images decoded.
- `RamCache`: every resized image in ONE anonymous shared memory map (`mmap(-1, n)`, MAP_SHARED),
  filled once up front by threads. Forked DataLoader workers inherit the mapping and read the same
  physical pages: RAM stays flat however many workers and epochs there are. Anonymous shared memory
  is not limited by the size of /dev/shm (64 MiB in default Docker containers). Under the 'spawn'
  start method the buffer moves once into torch shared memory, which workers receive by handle.
- `DiskCache`: the decoded full-resolution image as `<image>.npy` beside each image (the layout the
  Ultralytics uses, so existing caches are reused), independent of imgsz; a stale or foreign file
  (shape differs from the image) is rewritten. Loading a .npy is ~10x faster than decoding a JPEG.
"""

from __future__ import annotations

import mmap
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from yoloforge.utils.io import atomic_open

GiB = 1 << 30


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def available_memory() -> int:
    """Bytes this process can still allocate: MemAvailable, lowered by a cgroup (container) limit."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 8 * GiB  # unknown platform: assume a modest machine
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(avail, 0)


class ImageBuffer:
    """A per-process LRU of decoded, resized images, bounded by `max_bytes` (0 disables it)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(int(max_bytes), 0)
        self.nbytes = 0
        self.hits = 0
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, i: int) -> np.ndarray | None:
        im = self._items.get(i)
        if im is None:
            return None
        self._items.move_to_end(i)
        self.hits += 1
        return im

    def put(self, i: int, im: np.ndarray) -> np.ndarray:
        """Keep `im` (made read-only) and evict the least recently used images over the cap."""
        im = _readonly(im)
        if im.nbytes > self.max_bytes or i in self._items:
            return im
        self._items[i] = im
        self.nbytes += im.nbytes
        while self.nbytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.nbytes -= old.nbytes
        return im

    def clear(self) -> None:
        self._items.clear()
        self.nbytes = 0


class RamCache:
    """All images of a dataset, resized, in one shared uint8 buffer: slot i holds shapes[i] (h, w, 3)."""

    def __init__(self, shapes: Sequence[tuple[int, int]]) -> None:
        sizes = np.array([h * w * 3 for h, w in shapes], dtype=np.int64)
        self.shapes = [(int(h), int(w)) for h, w in shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.nbytes = int(self.offsets[-1])
        # MAP_SHARED | MAP_ANONYMOUS: inherited, not copied, by forked workers.
        self._mmap = mmap.mmap(-1, max(self.nbytes, 1))
        self._array = np.frombuffer(self._mmap, dtype=np.uint8, count=self.nbytes)
        self._tensor = None  # set when pickled for a non-fork worker (see __getstate__)

    def __len__(self) -> int:
        return len(self.shapes)

    def slot(self, i: int) -> np.ndarray:
        """The writable (h, w, 3) view of slot i; only `fill` writes."""
        h, w = self.shapes[i]
        return self._array[self.offsets[i] : self.offsets[i + 1]].reshape(h, w, 3)

    def get(self, i: int) -> np.ndarray:
        """A read-only view of image i (no copy)."""
        return _readonly(self.slot(i))

    def fill(self, load: Callable[[int], np.ndarray], threads: int) -> None:
        """Write every image once, with `threads` threads (decoding and resizing release the GIL)."""

        def one(i: int) -> None:
            self.slot(i)[...] = load(i)

        with ThreadPoolExecutor(max(threads, 1)) as pool:
            list(pool.map(one, range(len(self))))

    def __getstate__(self) -> dict:
        """For 'spawn'/'forkserver' workers (macOS, Windows): hand over a torch shared-memory tensor.

        The first pickling moves the images into torch shared memory once (the mmap is dropped);
        torch's multiprocessing pickler then passes a handle, not the bytes, to each worker.
        """
        import torch

        if self._tensor is None:
            self._tensor = torch.from_numpy(self._array).share_memory_()
            self._array, self._mmap = self._tensor.numpy(), None
        return {"shapes": self.shapes, "offsets": self.offsets, "nbytes": self.nbytes, "_tensor": self._tensor}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._mmap = None
        self._array = self._tensor.numpy()


def ram_cache_fits(nbytes: int, safety: float = 1.5) -> tuple[bool, int]:
    """Whether `nbytes` (times a safety factor for augmentation and the model) fits in free memory."""
    avail = available_memory()
    return nbytes * safety < avail, avail


class DiskCache:
    """Decoded full-resolution images saved as .npy beside the images, written once and reused."""

    def __init__(self, im_files: Sequence[str], shapes: Sequence[tuple[int, int]]) -> None:
        self.im_files = list(im_files)
        self.paths = [str(Path(f).with_suffix(".npy")) for f in im_files]
        self.shapes = [(int(h), int(w), 3) for h, w in shapes]

    def valid(self, i: int) -> bool:
        """True when the .npy is newer than its image and holds the expected shape (header read only)."""
        try:
            if os.stat(self.paths[i]).st_mtime < os.stat(self.im_files[i]).st_mtime:
                return False
            a = np.load(self.paths[i], mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return False
        return a.dtype == np.uint8 and a.shape == self.shapes[i]

    def load(self, i: int) -> np.ndarray:
        return np.load(self.paths[i], allow_pickle=False)

    def write(self, i: int, im: np.ndarray) -> None:
        """Write atomically (temp file + rename): concurrent ranks never see half a file."""
        with atomic_open(self.paths[i]) as f:
            np.save(f, np.ascontiguousarray(im), allow_pickle=False)

    def fill(self, decode: Callable[[int], np.ndarray], threads: int) -> int:
        """Write the missing or stale files; returns how many were written. Raises OSError if read-only."""

        def one(i: int) -> int:
            if self.valid(i):
                return 0
            self.write(i, decode(i))
            return 1

        with ThreadPoolExecutor(max(threads, 1)) as pool:
            return sum(pool.map(one, range(len(self.paths))))

    def writable(self) -> bool:
        """Whether every image folder accepts new files (probed by creating one, root included)."""
        for folder in sorted({os.path.dirname(p) for p in self.paths}):
            probe = os.path.join(folder, f".yoloforge-write-probe-{os.getpid()}")
            try:
                with open(probe, "wb"):
                    pass
                os.remove(probe)
            except OSError:
                return False
        return True
