"""The label cache: verified labels of one split saved as a pickle-free `.npz`, reused until a file changes.

One cache per list of images: the file sits beside the labels folder and is named after that folder
and a digest of the image list (`labels/train.1a2b3c4d.yoloforge.cache`), so two splits whose labels
share one folder (train.txt and val.txt over one `labels/`) keep a cache each instead of overwriting
one file in turn. Inside, a key hashes every image and label path with its size and mtime plus the
settings that change labels; any mismatch or damage means a rebuild, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yoloforge.data.label_types import ImageLabels, LabelReport
from yoloforge.utils.io import atomic_open
from yoloforge.utils.log import LOGGER

CACHE_VERSION = "yoloforge-labels-1"  # bump when the checks or the file layout change
CACHE_SUFFIX = ".yoloforge.cache"  # distinct from Ultralytics' pickled `<split>.cache`
_MAGIC = CACHE_VERSION.encode()
_MEMORY: dict[str, tuple[str, list[ImageLabels], LabelReport]] = {}  # results whose cache file could not be written
_MEMORY_MAX = 8


def list_digest(im_files: Sequence[str]) -> str:
    """8 hex digits identifying a list of image paths (its order included)."""
    h = hashlib.sha256()
    for f in im_files:
        h.update(f.encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest()[:8]


def cache_file(im_files: Sequence[str], label_folder: str | os.PathLike[str]) -> Path:
    """`<label_folder's parent>/<label_folder name>.<digest of im_files>.yoloforge.cache`."""
    folder = Path(label_folder)
    return folder.parent / f"{folder.name}.{list_digest(im_files)}{CACHE_SUFFIX}"


def _stat(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def cache_key(pairs: Sequence[tuple[str, str]], settings: list[Any]) -> str:
    """Hash of every image and label path with its size and mtime, plus the (JSON-able) label settings."""
    h = hashlib.sha256(json.dumps([CACHE_VERSION, *settings]).encode())
    for im, lb in pairs:
        h.update(f"{im}\0{_stat(im)}\0{lb}\0{_stat(lb)}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _bytes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8", "surrogateescape"), dtype=np.uint8)


def _pack(key: str, labels: list[ImageLabels], report: LabelReport, files: list[str]) -> dict[str, np.ndarray]:
    """Plain numeric arrays (no object arrays, so loading needs no pickle)."""
    index, j = [], 0
    for lb in labels:  # kept images are a subsequence of `files`, in order
        while files[j] != lb.im_file:
            j += 1
        index.append(j)
        j += 1
    seg_lens = [len(sg) for lb in labels for sg in lb.segments or [()] * len(lb.cls)]
    points = [sg for lb in labels for sg in lb.segments]
    meta = {k: getattr(report, k) for k in ("images", "backgrounds", "instances", "skipped", "fixed", "messages")}
    return {
        "version": _bytes(CACHE_VERSION),
        "key": _bytes(key),
        "index": np.array(index, dtype=np.int64),
        "shapes": np.array([lb.shape for lb in labels], dtype=np.int64).reshape(-1, 2),
        "counts": np.array([len(lb.cls) for lb in labels], dtype=np.int64),
        "cls": np.concatenate([lb.cls for lb in labels] + [np.zeros(0, np.int64)]),
        "bboxes": np.concatenate([lb.bboxes for lb in labels] + [np.zeros((0, 4), np.float32)]),
        "seg_lens": np.array(seg_lens, dtype=np.int64),
        "seg_points": np.concatenate([*points, np.zeros((0, 2), np.float32)]).astype(np.float32),
        "report": _bytes(json.dumps(meta)),
    }


def _unpack(z: dict[str, np.ndarray], files: list[str]) -> tuple[list[ImageLabels], dict]:
    index, shapes, counts = z["index"], z["shapes"], z["counts"]
    cls, bboxes, seg_lens, points = z["cls"], z["bboxes"], z["seg_lens"], z["seg_points"]
    rows = np.concatenate([[0], np.cumsum(counts)])
    offs = np.concatenate([[0], np.cumsum(seg_lens)])
    if len(index) != len(shapes) or rows[-1] != len(cls) or len(cls) != len(bboxes) or offs[-1] != len(points):
        raise ValueError("inconsistent array sizes")
    labels = []
    for i, j in enumerate(index.tolist()):
        a, b = int(rows[i]), int(rows[i + 1])
        segs = tuple(points[offs[r] : offs[r + 1]] for r in range(a, b)) if b > a and seg_lens[a] else ()
        h, w = shapes[i].tolist()
        labels.append(ImageLabels(files[j], (h, w), cls[a:b], bboxes[a:b], segs))
    return labels, json.loads(z["report"].tobytes().decode("utf-8", "surrogateescape"))


def load_cache(path: Path, key: str, files: list[str]) -> tuple[list[ImageLabels], LabelReport] | None:
    """The cached result when its version and key match, else None (any damage means a rebuild)."""
    mem = _MEMORY.get(str(path))
    if mem is not None and mem[0] == key:
        return mem[1], mem[2]
    try:
        with np.load(path, allow_pickle=False) as z:  # a pickled or foreign file raises, never loads
            if z["version"].tobytes() != _MAGIC or z["key"].tobytes().decode() != key:
                return None
            labels, meta = _unpack(z, files)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, EOFError, zipfile.BadZipFile) as e:
        LOGGER.info(f"label cache {path} is unusable ({e}); rebuilding it")
        return None
    meta["messages"] = tuple(meta["messages"])
    return labels, LabelReport(**meta)


def save_cache(path: Path, key: str, labels: list[ImageLabels], report: LabelReport, files: list[str]) -> bool:
    """Write the cache atomically; an unwritable folder keeps the result in memory, with one warning."""
    arrays = _pack(key, labels, report, files)
    try:
        if not path.parent.is_dir():
            raise FileNotFoundError(2, "folder does not exist", str(path.parent))
        with atomic_open(path) as f:
            np.savez(f, **arrays)
    except OSError as e:
        if len(_MEMORY) >= _MEMORY_MAX:
            _MEMORY.pop(next(iter(_MEMORY)))
        _MEMORY[str(path)] = (key, labels, report)
        LOGGER.warning(
            f"{report.prefix}: cannot write label cache {path} ({e.strerror or e}); "
            "keeping the result in memory for this process only"
        )
        return False
    return True
