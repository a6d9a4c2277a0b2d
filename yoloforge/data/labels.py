"""Verification of a split's images and YOLO label files, so the model never learns a wrong label.

Every image is decoded once (truncated or corrupt files are skipped) and every label row checked.
A defect that makes the whole label file untrustworthy (class id >= nc, a coordinate outside 0..1,
a wrong column count, a non-number) drops the image; harmless ones are fixed (duplicate rows and
zero-area boxes removed, boxes overflowing the image clipped). Each defect becomes one message
naming the file and line. The outcome is cached beside the labels folder (label_cache.py).

Each image's label file is looked for at the sibling path (`images/` -> `labels/`), then beside the
image (files.find_label_files); where labels were found beside the images, or ignored there, one
warning says so. A training split whose images almost all lack a label file is refused
(`min_labelled`): that is a layout the lookup does not understand, not a dataset of backgrounds.

A label row is `class cx cy w h` (normalised box) or `class x1 y1 x2 y2 x3 y3 ...` (normalised
polygon, >= 3 points); a polygon becomes its bounding box and is kept in `ImageLabels.segments`.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from yoloforge.data.files import LabelLookup, find_label_files, label_path_for
from yoloforge.data.images import ImageError, verify_image
from yoloforge.data.label_cache import CACHE_VERSION, cache_file, cache_key, load_cache, save_cache
from yoloforge.data.label_types import ImageLabels, LabelReport, breakdown, plural
from yoloforge.errors import ConfigError, YoloforgeError
from yoloforge.utils.log import LOGGER

__all__ = ["CACHE_VERSION", "ImageLabels", "LabelError", "LabelReport", "cache_path", "load_labels"]

COORD_TOL = 1e-3  # coordinates this far outside 0..1 are rounding: clipped, not rejected
POOL_MIN_FILES = 32  # fewer files are verified in-process: a pool costs more than it saves
MAX_LOGGED = 20  # defect messages printed per call; the report keeps them all
MAX_ERRORS_PER_FILE = 10  # defective lines reported per label file before summarising the rest


MIN_LABELLED = 0.01  # a training split needs label files for at least this share of its images


class LabelError(YoloforgeError, ValueError):
    """A split the labels cannot be trusted from: too many images dropped for defects, or no label files."""


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


def cache_path(im_files: Sequence[str | os.PathLike], lookup: LabelLookup | None = None) -> Path:
    """Where the label cache of this list of images lives (one file per list; see label_cache.py).

    Beside the folder of the first label file found (else of the first image's sibling path).
    """
    files = [os.fspath(f) for f in im_files]
    lookup = lookup or find_label_files(files)
    first = next((p for p, ok in zip(lookup.paths, lookup.exists, strict=True) if ok), lookup.paths[0])
    return cache_file(files, Path(first).parent)


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
            f"more than max_drop={max_drop:.0%}; reasons: {breakdown(report.skipped)}. "
            f"First: {report.messages[0] if report.messages else '?'}"
        )


def _report_lookup(lookup: LabelLookup, prefix: str, min_labelled: float) -> None:
    """Warn where label files came from beside their images (or were ignored there); refuse an unlabelled split."""
    name = prefix or "split"
    if lookup.beside:
        ex = lookup.beside[0]
        whose = "its image" if len(lookup.beside) == 1 else "their images"
        LOGGER.warning(
            f"{name}: {plural(len(lookup.beside), 'label file')} found beside {whose} "
            f"instead of at the images/ -> labels/ sibling path, and used: e.g. {ex} (no {label_path_for(ex)})"
        )
    if lookup.ignored:
        ex = lookup.ignored[0]
        LOGGER.warning(
            f"{name}: {plural(len(lookup.ignored), '.txt file')} beside images ignored, because the label file at "
            f"the images/ -> labels/ sibling path wins: e.g. {ex} (used: {label_path_for(ex)})"
        )
    n, found = len(lookup.images), lookup.found
    if found and found >= min_labelled * n:
        return
    i = lookup.exists.index(False)
    places = lookup.looked_at(i)
    no_images = " (its path has no 'images' folder)" if len(places) == 1 else ""
    where = f"for {lookup.images[i]} that is {', then '.join(places)}{no_images}"
    if min_labelled <= 0:
        LOGGER.warning(f"{name}: none of the {plural(n, 'image')} has a label file ({where}); every detection "
                       "will count as a false positive")  # fmt: skip
        return
    raise LabelError(
        f"{name}: only {found} of {plural(n, 'image')} {'has' if found == 1 else 'have'} a label file; a training "
        f"split needs one for at least {min_labelled:.0%} of its images (an empty .txt marks a background). Each "
        f"image's label file is looked for at its images/ -> labels/ sibling path, then beside the image; {where}."
        f"{_layout_hint(lookup.images[i])}"
    )


def _layout_hint(im_file: str) -> str:
    """A sentence naming a label file that exists under a `labels` folder the sibling rule did not reach."""
    image = Path(im_file)
    for folder in image.parents:
        if folder.parent == folder:
            break
        candidate = folder.parent / "labels" / image.parent.relative_to(folder) / (image.stem + ".txt")
        if folder.name != "images" and candidate.is_file():
            return (
                f" A label file exists at {candidate}: rename the folder {folder} to {folder.parent / 'images'} so "
                "the sibling path finds it."
            )
    return ""


def _split_name(prefix: str, im_files: Sequence[str]) -> str:
    name = prefix.strip().rstrip(":").strip()
    return name or (Path(im_files[0]).parent.name if im_files else "")


def _check_classes(classes: Sequence[int] | None, nc: int, names: dict[int, str] | None) -> tuple[int, ...] | None:
    """`classes` as sorted unique ids; ConfigError (one line, naming the key and the valid ids) otherwise."""
    if classes is None:
        return None
    bad = [c for c in classes if not 0 <= int(c) < nc]
    if bad:
        named = dict(names) if isinstance(names, dict) else dict(enumerate(names or []))
        shown = ", ".join(f"{i} {named[i]}" for i in list(named)[:5]) + (", ..." if len(named) > 5 else "")
        listed = f": {shown}" if named else ""
        raise ConfigError(
            f"classes={list(classes)}: {', '.join(map(str, bad))} is not a class id of this dataset, which has "
            f"{nc} classes{listed}; use ids 0..{nc - 1}"
        )
    return tuple(sorted({int(c) for c in classes}))


def _named(names: dict[int, str] | Sequence[str] | None) -> list[tuple[int, str]]:
    return sorted((int(k), str(v)) for k, v in (names.items() if isinstance(names, dict) else enumerate(names or [])))


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
    min_labelled: float = 0.0,
    prefix: str = "",
) -> tuple[list[ImageLabels], LabelReport]:
    """Verify the images of a split and their label files; return the usable ones and a report.

    `nc` is the dataset's class count (before `single_cls`). `classes` keeps only rows of those
    ids (not renumbered); `single_cls` then maps every class to 0. Raises ConfigError for a class id
    outside 0..nc-1 in `classes`; LabelError when fewer than `min_labelled` (a fraction) of the images
    have a label file (training uses MIN_LABELLED) or when more than `max_drop` of them were dropped.
    With `cache`, results are reused until a file changes.
    """
    if nc < 1:
        raise ValueError(f"nc must be >= 1, got {nc}")
    s = _Settings(int(nc), bool(single_cls), _check_classes(classes, nc, names))
    files = [os.fspath(f) for f in im_files]
    prefix = _split_name(prefix, files)
    if not files:
        LOGGER.warning(f"{prefix or 'split'}: no images to verify")
        return [], LabelReport(0, 0, 0, prefix=prefix)
    lookup = find_label_files(files)
    _report_lookup(lookup, prefix, min_labelled)
    pairs = list(zip(files, lookup.paths, strict=True))
    path, key, hit = None, None, None
    if cache:
        path, key = cache_path(files, lookup), cache_key(pairs, [s.nc, s.single_cls, s.classes, _named(names)])
        hit = load_cache(path, key, files)
    if hit is None:
        labels, report = _aggregate(_verify_all(pairs, s, workers, prefix), prefix)
        saved = cache and save_cache(path, key, labels, report, files)
        source = f" (cache saved to {path})" if saved else ""
    else:
        labels, report = hit
        report = replace(report, prefix=prefix)
        source = f" (from cache {path})"
    _log_report(report, source)
    _check_drop(report, len(files), max_drop)
    return labels, report
