"""Verification of a split's images and YOLO label files, so the model never learns a wrong label.

Every image is decoded once (truncated or corrupt files are skipped) and every label row checked.
A defect that makes the whole label file untrustworthy (class id >= nc, a coordinate outside 0..1,
a wrong column count, a non-number) drops the image; harmless ones are fixed (duplicate rows and
zero-area boxes removed, boxes overflowing the image clipped). Each defect becomes one message
naming the file and line. The outcome is cached beside the labels folder as a pickle-free `.npz`
keyed by the files' paths, sizes and mtimes and the settings that change labels.

A label row is `class cx cy w h` (normalised box) or `class x1 y1 x2 y2 x3 y3 ...` (normalised
polygon, >= 3 points); a polygon becomes its bounding box and is kept in `ImageLabels.segments`.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import zipfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from yoloforge.data.files import label_paths_for
from yoloforge.data.images import ImageError, verify_image
from yoloforge.errors import YoloforgeError
from yoloforge.utils.io import atomic_open
from yoloforge.utils.log import LOGGER

CACHE_VERSION = "yoloforge-labels-1"  # bump when the checks or the file layout change
CACHE_SUFFIX = ".yoloforge.cache"  # distinct from the incumbent's pickled `<split>.cache`
COORD_TOL = 1e-3  # coordinates this far outside 0..1 are rounding: clipped, not rejected
POOL_MIN_FILES = 32  # fewer files are verified in-process: a pool costs more than it saves
MAX_LOGGED = 20  # defect messages printed per call; the report keeps them all
MAX_ERRORS_PER_FILE = 10  # defective lines reported per label file before summarising the rest


class LabelError(YoloforgeError, ValueError):
    """Too many images of a split were dropped for defects: the dataset needs fixing first."""


@dataclass(frozen=True, eq=False)  # eq=False: arrays make field-wise == ambiguous
class ImageLabels:
    """The verified labels of one image (an image without rows is a background)."""

    im_file: str
    shape: tuple[int, int]  # (h, w) after EXIF orientation
    cls: np.ndarray  # (n,) int64 class ids
    bboxes: np.ndarray  # (n, 4) float32 normalised xywh (centre x, centre y, w, h)
    segments: tuple[np.ndarray, ...] = ()  # per row (k, 2) float32 polygon when any row had one


@dataclass(frozen=True)
class LabelReport:
    """What verification kept, skipped and fixed; `messages` has one line per defect."""

    images: int
    backgrounds: int
    instances: int
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> images dropped
    fixed: dict[str, int] = field(default_factory=dict)  # kind -> rows changed or removed
    messages: tuple[str, ...] = ()
    prefix: str = ""  # the split's name, leading the summary

    def summary(self) -> str:
        """One line for the log, e.g. 'train: 128 images, 2 backgrounds, 929 instances; skipped 3 (...)'."""
        line = (
            f"{_plural(self.images, 'image')}, {_plural(self.backgrounds, 'background')}, "
            f"{_plural(self.instances, 'instance')}"
        )
        if self.skipped:
            line += f"; skipped {sum(self.skipped.values())} ({_breakdown(self.skipped)})"
        if self.fixed:
            n = sum(self.fixed.values())
            line += f"; fixed {n} {'row' if n == 1 else 'rows'} ({_breakdown(self.fixed)})"
        return f"{self.prefix}: {line}" if self.prefix else line


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _breakdown(counts: dict[str, int]) -> str:
    """'2 corrupt image, 1 class id >= nc': largest first, then by name, for a stable line."""
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class _Settings:
    """The settings that change the labels, shipped to worker processes with each chunk."""

    nc: int
    single_cls: bool = False
    classes: tuple[int, ...] | None = None


@dataclass(frozen=True)
class _Checked:
    """One image's outcome: labels when kept, else the reason it was skipped."""

    labels: ImageLabels | None
    skip: str | None = None
    fixed: dict[str, int] = field(default_factory=dict)
    messages: tuple[str, ...] = ()


class _RowError(Exception):
    """A row that makes its label file untrustworthy (the image is dropped)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


# --- label paths -------------------------------------------------------------------------------


def cache_path(im_files: Sequence[str | os.PathLike]) -> Path:
    """Where the cache of these images lives: beside the first image's labels folder."""
    folder = Path(label_paths_for(im_files[:1])[0]).parent
    return folder.parent / (folder.name + CACHE_SUFFIX)


# --- one image ---------------------------------------------------------------------------------


def _parse_row(tokens: list[str], nc: int) -> tuple[tuple[float, ...], int, np.ndarray]:
    """(exact values, class id, coordinates clipped to 0..1) of one row, or _RowError."""
    n = len(tokens)
    if n != 5 and (n < 7 or n % 2 == 0):
        raise _RowError(
            "wrong column count", f"{n} columns, expected 5 (class cx cy w h) or an odd number >= 7 (polygon)"
        )
    values = []
    for tok in tokens:
        try:
            v = float(tok)
        except ValueError:
            raise _RowError("non-number", f"{tok!r} is not a number") from None
        if not math.isfinite(v):
            raise _RowError("non-number", f"{tok!r} is not a finite number")
        values.append(v)
    c = values[0]
    if c < 0 or c != int(c):
        raise _RowError("invalid class id", f"{tokens[0]!r} is not a non-negative integer")
    if c >= nc:
        raise _RowError("class id >= nc", f"class {int(c)} but nc={nc} (ids 0..{nc - 1})")
    coords = np.asarray(values[1:], dtype=np.float64)
    bad = np.flatnonzero((coords < -COORD_TOL) | (coords > 1 + COORD_TOL))
    if bad.size:
        raise _RowError("coordinate out of range", f"column {bad[0] + 2} is {tokens[bad[0] + 1]}, outside 0..1")
    return tuple(values), int(c), np.clip(coords, 0.0, 1.0)


def _read_rows(lb_file: str, nc: int) -> tuple[list[tuple], list[str], str | None]:
    """Parsed rows (line, values, class, coords), error messages, and the first error's reason."""
    try:
        text = Path(lb_file).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return [], [], None  # no label file: a background image
    except (OSError, UnicodeDecodeError) as e:
        return [], [f"{lb_file}: unreadable label file ({e}), image skipped"], "unreadable label file"
    rows, errors, first = [], [], None
    for ln, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            rows.append((ln, *_parse_row(tokens, nc)))
        except _RowError as e:
            first = first or e.reason
            errors.append(f"{lb_file}:{ln}: {e.reason}: {e.detail}, image skipped")
    if len(errors) > MAX_ERRORS_PER_FILE:
        errors[MAX_ERRORS_PER_FILE:] = [f"{lb_file}: ... and {len(errors) - MAX_ERRORS_PER_FILE} more defective lines"]
    return rows, errors, first


def _to_box(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(xywh, polygon or None, whether the box overflowed the image beyond rounding and was clipped)."""
    if coords.size == 4:
        cx, cy, w, h = coords
        xyxy = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        seg = None
    else:
        seg = coords.reshape(-1, 2)
        xyxy = np.concatenate([seg.min(0), seg.max(0)])
    clipped = bool(((xyxy < -COORD_TOL) | (xyxy > 1 + COORD_TOL)).any())
    if seg is None and not clipped:
        return coords.copy(), None, False  # keep the file's exact values
    x1, y1, x2, y2 = np.clip(xyxy, 0.0, 1.0)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]), seg, clipped


def _clean_rows(rows: list[tuple], lb_file: str) -> tuple[list[tuple], Counter, list[str]]:
    """Rows without exact duplicates and zero-area boxes, overflowing boxes clipped: (kept, fixed, messages)."""
    kept, fixed, messages, seen = [], Counter(), [], {}
    for ln, values, c, coords in rows:
        if values in seen:
            fixed["duplicate"] += 1
            messages.append(f"{lb_file}:{ln}: duplicate of line {seen[values]}, row removed")
            continue
        seen[values] = ln
        box, seg, clipped = _to_box(coords)
        if box[2] <= 0 or box[3] <= 0:
            fixed["zero-area"] += 1
            messages.append(f"{lb_file}:{ln}: zero-area box (w={box[2]:.6g}, h={box[3]:.6g}), row removed")
            continue
        if clipped:
            fixed["clipped to image"] += 1
            messages.append(f"{lb_file}:{ln}: box extends outside the image, clipped to it")
        kept.append((c, box, seg))
    return kept, fixed, messages


def _select(kept: list[tuple], im_file: str, shape: tuple[int, int], s: _Settings) -> ImageLabels:
    """Apply `classes` (original ids, not renumbered) and `single_cls`, and build the arrays."""
    if s.classes is not None:
        kept = [r for r in kept if r[0] in s.classes]
    cls = np.array([0 if s.single_cls else r[0] for r in kept], dtype=np.int64)
    bboxes = np.array([r[1] for r in kept], dtype=np.float32).reshape(-1, 4)
    segments: tuple[np.ndarray, ...] = ()
    if any(r[2] is not None for r in kept):  # box rows get their rectangle, so every row has one
        segments = tuple((r[2] if r[2] is not None else _rectangle(r[1])).astype(np.float32) for r in kept)
    return ImageLabels(im_file, shape, cls, bboxes, segments)


def _rectangle(xywh: np.ndarray) -> np.ndarray:
    cx, cy, w, h = xywh
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


def _check_one(pair: tuple[str, str], s: _Settings) -> _Checked:
    """Verify one image and its label file (runs in a worker process)."""
    im_file, lb_file = pair
    try:
        shape = verify_image(im_file)
    except ImageError as e:
        return _Checked(None, "corrupt image", messages=(f"{im_file}: corrupt image: {e.reason}, image skipped",))
    rows, errors, reason = _read_rows(lb_file, s.nc)
    if errors:
        return _Checked(None, reason, messages=tuple(errors))
    kept, fixed, messages = _clean_rows(rows, lb_file)
    return _Checked(_select(kept, im_file, shape, s), None, dict(fixed), tuple(messages))


# --- a whole split -----------------------------------------------------------------------------


def _verify_all(pairs: list[tuple[str, str]], s: _Settings, workers: int, prefix: str) -> list[_Checked]:
    """Check every pair, in a process pool unless the list is tiny or workers <= 1; order is kept."""
    check = partial(_check_one, s=s)
    workers = min(workers, os.cpu_count() or 1, math.ceil(len(pairs) / POOL_MIN_FILES))
    if workers <= 1 or multiprocessing.current_process().daemon:  # daemons may not have children
        return [check(p) for p in pairs]
    LOGGER.info(f"{prefix}: verifying {len(pairs)} images and labels with {workers} processes")
    chunksize = max(1, min(64, len(pairs) // (workers * 4)))
    try:
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(check, pairs, chunksize=chunksize))
    except (BrokenProcessPool, OSError) as e:  # e.g. no /dev/shm or process limit: still verify
        LOGGER.warning(f"{prefix}: process pool failed ({e}); verifying in this process")
        return [check(p) for p in pairs]


def _aggregate(results: list[_Checked], prefix: str) -> tuple[list[ImageLabels], LabelReport]:
    labels, skipped, fixed, messages = [], Counter(), Counter(), []
    for r in results:
        messages.extend(r.messages)
        if r.labels is None:
            skipped[r.skip] += 1
        else:
            labels.append(r.labels)
            fixed.update(r.fixed)
    report = LabelReport(
        images=len(labels),
        backgrounds=sum(len(lb.cls) == 0 for lb in labels),
        instances=sum(len(lb.cls) for lb in labels),
        skipped=dict(skipped),
        fixed=dict(fixed),
        messages=tuple(messages),
        prefix=prefix,
    )
    return labels, report


def _log_report(report: LabelReport, source: str) -> None:
    for m in report.messages[:MAX_LOGGED]:
        LOGGER.warning(f"{report.prefix}: {m}" if report.prefix else m)
    if len(report.messages) > MAX_LOGGED:
        LOGGER.warning(f"... and {len(report.messages) - MAX_LOGGED} more (LabelReport.messages lists them all)")
    LOGGER.info(f"{report.summary()}{source}")


def _check_drop(report: LabelReport, total: int, max_drop: float) -> None:
    """Refuse a split that lost more than `max_drop` of its images: the dataset is broken, not noisy."""
    dropped = sum(report.skipped.values())
    if total and dropped / total > max_drop:
        raise LabelError(
            f"{report.prefix or 'split'}: {dropped} of {total} images ({dropped / total:.0%}) dropped for defects, "
            f"more than max_drop={max_drop:.0%}; reasons: {_breakdown(report.skipped)}. "
            f"First: {report.messages[0] if report.messages else '?'}"
        )


def _split_name(prefix: str, im_files: Sequence[str]) -> str:
    name = prefix.strip().rstrip(":").strip()
    return name or (Path(im_files[0]).parent.name if im_files else "")


def load_labels(
    im_files: Sequence[str | os.PathLike],
    nc: int,
    *,
    names: dict[int, str] | None = None,
    single_cls: bool = False,
    classes: list[int] | None = None,
    workers: int = 2,
    cache: bool = True,
    max_drop: float = 0.5,
    prefix: str = "",
) -> tuple[list[ImageLabels], LabelReport]:
    """Verify the images of a split and their label files; return the usable ones and a report.

    `nc` is the dataset's class count (before `single_cls`). `classes` keeps only rows of those
    ids (not renumbered); `single_cls` then maps every class to 0. Raises LabelError when more than
    `max_drop` of the images were dropped. With `cache`, results are reused until a file changes.
    """
    if nc < 1:
        raise ValueError(f"nc must be >= 1, got {nc}")
    if classes is not None and any(not 0 <= int(c) < nc for c in classes):
        raise ValueError(f"classes {list(classes)} must be class ids in 0..{nc - 1}")
    s = _Settings(int(nc), bool(single_cls), None if classes is None else tuple(sorted({int(c) for c in classes})))
    files = [os.fspath(f) for f in im_files]
    prefix = _split_name(prefix, files)
    if not files:
        LOGGER.warning(f"{prefix or 'split'}: no images to verify")
        return [], LabelReport(0, 0, 0, prefix=prefix)
    pairs = list(zip(files, label_paths_for(files), strict=True))
    path, key, hit = None, None, None
    if cache:
        path, key = cache_path(files), _cache_key(pairs, s, names)
        hit = _load_cache(path, key, files)
    if hit is None:
        labels, report = _aggregate(_verify_all(pairs, s, workers, prefix), prefix)
        saved = cache and _save_cache(path, key, labels, report, files)
        source = f" (cache saved to {path})" if saved else ""
    else:
        labels, report = hit
        report = replace(report, prefix=prefix)
        source = f" (from cache {path})"
    _log_report(report, source)
    _check_drop(report, len(files), max_drop)
    return labels, report


# --- cache -------------------------------------------------------------------------------------

_MAGIC = CACHE_VERSION.encode()
_MEMORY: dict[str, tuple[str, list[ImageLabels], LabelReport]] = {}  # results whose cache file could not be written
_MEMORY_MAX = 8


def _stat(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _cache_key(pairs: list[tuple[str, str]], s: _Settings, names: dict[int, str] | None) -> str:
    """Hash of every image and label path with its size and mtime, plus the label settings."""
    named = sorted((int(k), str(v)) for k, v in (names.items() if isinstance(names, dict) else enumerate(names or [])))
    h = hashlib.sha256(json.dumps([CACHE_VERSION, s.nc, s.single_cls, s.classes, named]).encode())
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


def _load_cache(path: Path, key: str, files: list[str]) -> tuple[list[ImageLabels], LabelReport] | None:
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


def _save_cache(path: Path, key: str, labels: list[ImageLabels], report: LabelReport, files: list[str]) -> bool:
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
