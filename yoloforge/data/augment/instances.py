"""Vectorised label helpers shared by the transforms.

Boxes are xyxy float32 in continuous pixel coordinates (pixel i covers [i, i + 1)). Segments are a
list with one (k, 2) float32 polygon per box, or [] when the dataset has none; a list whose length
differs from the number of boxes counts as "no segments". All box and polygon maths runs on whole
arrays (polygons packed into one point array plus per-polygon lengths); Python only re-slices lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Sample = dict[str, Any]


def empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), np.float32)


def has_segments(sample: Sample) -> bool:
    """True when every box of the sample has a polygon (and there is at least one box)."""
    n = len(sample["bboxes"])
    return n > 0 and len(sample["segments"]) == n


def box_area(boxes: np.ndarray) -> np.ndarray:
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)


def clip_boxes(boxes: np.ndarray, w: float, h: float) -> np.ndarray:
    """A clipped copy (x to [0, w], y to [0, h])."""
    out = np.maximum(boxes, 0).astype(np.float32)
    return np.minimum(out, np.array([w, h, w, h], np.float32), out=out)


def intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas, shape (len(a), len(b))."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.maximum(rb - lt, 0)
    return wh[..., 0] * wh[..., 1]


def pack_segments(segments: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All polygons' points in one (K, 2) float64 array, plus each polygon's point count."""
    lengths = np.fromiter((len(s) for s in segments), np.int64, len(segments))
    if not lengths.sum():
        return np.zeros((0, 2)), lengths
    return np.concatenate(segments, 0).astype(np.float64), lengths


def unpack_segments(points: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """The inverse of pack_segments: one float32 (k, 2) array per polygon."""
    if not len(lengths):
        return []
    return np.split(points.astype(np.float32), np.cumsum(lengths)[:-1])


def polygon_bounds(points: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """xyxy bounds of packed polygons (zeros for empty ones): tighter than warped box corners."""
    out = np.zeros((len(lengths), 4), np.float64)
    full = lengths > 0
    if full.any():
        starts = (np.cumsum(lengths) - lengths)[full]
        out[full, :2] = np.minimum.reduceat(points, starts, axis=0)
        out[full, 2:] = np.maximum.reduceat(points, starts, axis=0)
    return out


def _clip_side(points: np.ndarray, lengths: np.ndarray, axis: int, value: float, upper: bool):
    """One Sutherland-Hodgman pass over every polygon at once: keep the side x[axis] <= / >= value.

    Each vertex emits the crossing of the edge arriving at it (if that edge crosses the side) and
    then itself (if inside): at most two points, kept in order through a (K, 2) mask.
    """
    starts = np.cumsum(lengths) - lengths
    prev = np.arange(-1, len(points) - 1)
    full = lengths > 0
    prev[starts[full]] = (starts + lengths - 1)[full]
    cur, pre = points, points[prev]
    inside = cur[:, axis] <= value if upper else cur[:, axis] >= value
    crosses = inside != inside[prev]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (value - pre[:, axis]) / (cur[:, axis] - pre[:, axis])
        hit = pre + t[:, None] * (cur - pre)
    hit[:, axis] = value
    emit = np.stack([crosses, inside], 1)
    out = np.stack([hit, cur], 1)[emit]
    ids = np.repeat(np.arange(len(lengths)), lengths)
    return out, np.bincount(ids, emit.sum(1), len(lengths)).astype(np.int64)


def clip_polygons(points: np.ndarray, lengths: np.ndarray, rect: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Packed polygons intersected with rect (x0, y0, x1, y1); ones left empty get length 0."""
    for axis, value, upper in ((0, rect[0], False), (0, rect[2], True), (1, rect[1], False), (1, rect[3], True)):
        if len(points):
            points, lengths = _clip_side(points, lengths, axis, float(value), upper)
    return points, lengths


def clip_polygons_where(
    points: np.ndarray, lengths: np.ndarray, which: np.ndarray, rect: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """clip_polygons on the polygons flagged in `which` only (the rest pass unchanged, in order)."""
    ids = np.repeat(np.arange(len(lengths)), lengths)
    sel = which[ids]
    cut, cut_len = clip_polygons(points[sel], lengths[which], rect)
    new_len = lengths.copy()
    new_len[which] = cut_len
    out = np.empty((new_len.sum(), 2), points.dtype)
    out_ids = np.repeat(np.arange(len(lengths)), new_len)
    out[which[out_ids]] = cut
    out[~which[out_ids]] = points[~sel]
    return out, new_len


def shift_segments(segments: Sequence[np.ndarray], dx: float, dy: float) -> list[np.ndarray]:
    if not segments:
        return []
    pts, lengths = pack_segments(segments)
    return unpack_segments(pts + np.array([dx, dy]), lengths)


def clip_segments(segments: Sequence[np.ndarray], rect: Sequence[float]) -> list[np.ndarray]:
    """Every polygon cut to rect (x0, y0, x1, y1) exactly; a polygon wholly outside becomes empty."""
    if not segments:
        return []
    return unpack_segments(*clip_polygons(*pack_segments(segments), rect))


def good_boxes(
    boxes: np.ndarray,
    visible: np.ndarray,
    min_size: float = 2.0,
    max_aspect: float = 100.0,
    min_visible: float = 0.1,
) -> np.ndarray:
    """Keep mask: drop boxes under min_size px, thinner than 1:max_aspect or mostly cut away."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    aspect = np.maximum(w / (h + 1e-9), h / (w + 1e-9))
    return (w >= min_size) & (h >= min_size) & (aspect <= max_aspect) & (visible >= min_visible)


def select(sample: Sample, keep: np.ndarray) -> Sample:
    """A new sample holding only the kept labels (keep: boolean mask or indices)."""
    segs = sample["segments"]
    if has_segments(sample):
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        segs = [segs[i] for i in idx]
    elif len(segs) != len(sample["bboxes"]):
        segs = []
    return {**sample, "cls": sample["cls"][keep], "bboxes": sample["bboxes"][keep], "segments": segs}


def merge_labels(parts: Sequence[Sample]) -> Sample:
    """cls, bboxes and segments of several samples concatenated; segments kept only if all have them."""
    cls = np.concatenate([p["cls"] for p in parts]).astype(np.int64, copy=False)
    boxes = np.concatenate([p["bboxes"] for p in parts]).astype(np.float32, copy=False).reshape(-1, 4)
    segs: list[np.ndarray] = []
    if len(boxes) and all(len(p["segments"]) == len(p["bboxes"]) for p in parts):
        segs = [s for p in parts for s in p["segments"]]
    return {"cls": cls, "bboxes": boxes, "segments": segs}
