"""Transforms that mix several images: Mosaic, MixUp, CutMix and CopyPaste.

Mosaic never builds the usual 2*imgsz canvas: it asks its RandomPerspective for the matrix first,
pastes only the part of the canvas that matrix will sample (on average ~1.3 * imgsz^2 pixels, in
4-channel form for the fast warp kernel), then warps once straight to imgsz x imgsz. The result is
the same as canvas-then-warp, seams included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from .geometric import (
    RandomPerspective,
    flip_sample,
    transform_labels,
    transform_points,
    translation,
    warp_image,
)
from .instances import (
    Sample,
    box_area,
    clip_boxes,
    clip_polygons,
    clip_segments,
    good_boxes,
    has_segments,
    intersection,
    merge_labels,
    pack_segments,
    polygon_bounds,
    select,
    shift_segments,
    unpack_segments,
)

Transform = Callable[[Sample, np.random.Generator], Sample]


@runtime_checkable
class SampleSource(Protocol):
    """What the mix transforms draw other samples from (the dataset implements it).

    load_sample returns a sample whose image is already resized so its long side is imgsz.
    """

    def __len__(self) -> int: ...

    def load_sample(self, i: int) -> Sample: ...


def _grey_bgra(shape: tuple[int, int], value: int) -> np.ndarray:
    """A (h, w, 4) uint8 grey canvas, filled as uint32 words (numpy's broadcast 4-tuple fill is ~50x slower)."""
    word = np.array([value, value, value, 0], np.uint8).view(np.uint32)[0]
    return np.full(shape, word, np.uint32).view(np.uint8).reshape(*shape, 4)


class Mosaic:
    """Four images around a random centre, warped by `affine`; with probability 1 - p just `affine`."""

    def __init__(
        self, source: SampleSource, imgsz: int, affine: RandomPerspective | None = None, p: float = 1.0
    ) -> None:
        self.source, self.imgsz, self.p = source, imgsz, p
        self.affine = affine or RandomPerspective(translate=0.0, scale=0.0, imgsz=imgsz)
        self.enabled = True

    def set_mix(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if not self.enabled or self.p <= 0 or (self.p < 1 and rng.random() >= self.p):
            return self.affine(sample, rng)
        picks = rng.integers(0, len(self.source), 3)
        return self._mosaic([sample, *(self.source.load_sample(int(i)) for i in picks)], rng)

    def _mosaic(self, tiles: list[Sample], rng: np.random.Generator) -> Sample:
        s = self.imgsz
        xc, yc = (int(v) for v in rng.uniform(0.5 * s, 1.5 * s, 2))
        m = self.affine.random_matrix(rng, (s, s), (s, s))
        offsets = []
        for i, t in enumerate(tiles):  # 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right of centre
            h, w = t["img"].shape[:2]
            offsets.append((xc - w if i in (0, 2) else xc, yc - h if i in (0, 1) else yc))
        img = self._render(tiles, offsets, m)
        parts, visible = [], []
        for t, (ox, oy) in zip(tiles, offsets, strict=True):
            shifted = t["bboxes"] + np.array([ox, oy, ox, oy], np.float32)
            boxes = clip_boxes(shifted, 2 * s, 2 * s)
            visible.append(box_area(boxes) / np.maximum(box_area(shifted), 1e-9))
            segs = t["segments"]
            if len(segs) == len(boxes):
                segs = clip_segments(shift_segments(segs, ox, oy), (0, 0, 2 * s, 2 * s))
            parts.append({"cls": t["cls"], "bboxes": boxes, "segments": segs})
        labels = merge_labels(parts)
        boxes, segs, keep = transform_labels(labels["bboxes"], labels["segments"], m, (s, s), np.concatenate(visible))
        return {**tiles[0], "img": img, "cls": labels["cls"][keep], "bboxes": boxes, "segments": segs}

    def _render(self, tiles: list[Sample], offsets: list[tuple[int, int]], m: np.ndarray) -> np.ndarray:
        """Paste the sampled part of the 2s x 2s canvas (BGRA), then warp it once to s x s."""
        s, big = self.imgsz, 2 * self.imgsz
        corners = np.array([[0, 0], [s, 0], [0, s], [s, s]], np.float64)
        src, ok = transform_points(np.linalg.inv(m), corners)
        x0, y0, x1, y1 = 0, 0, big, big
        if ok.all():  # else the horizon crosses the output: keep the whole canvas
            lo, hi = np.floor(src.min(0)) - 2, np.ceil(src.max(0)) + 2
            x0, y0 = (min(max(int(v), 0), big) for v in lo)
            x1, y1 = (min(max(int(v), 0), big) for v in hi)
        canvas = _grey_bgra((max(y1 - y0, 1), max(x1 - x0, 1)), self.affine.border)
        for t, (ox, oy) in zip(tiles, offsets, strict=True):
            h, w = t["img"].shape[:2]
            ax0, ay0, ax1, ay1 = max(ox, x0), max(oy, y0), min(ox + w, x1), min(oy + h, y1)
            if ax1 > ax0 and ay1 > ay0:
                crop = t["img"][ay0 - oy : ay1 - oy, ax0 - ox : ax1 - ox]
                canvas[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = cv2.cvtColor(crop, cv2.COLOR_BGR2BGRA)
        return warp_image(canvas, m @ translation(x0, y0), (s, s), self.affine.border)


class _FromSource:
    """Shared by the transforms that draw a second, already augmented sample from the source."""

    def __init__(self, source: SampleSource, pre_transform: Transform | None, p: float) -> None:
        self.source, self.pre_transform, self.p = source, pre_transform, p
        self.enabled = True

    def set_mix(self, enabled: bool) -> None:
        self.enabled = enabled

    def _fires(self, rng: np.random.Generator) -> bool:
        return self.enabled and self.p > 0 and rng.random() < self.p

    def _other(self, rng: np.random.Generator) -> Sample:
        other = self.source.load_sample(int(rng.integers(0, len(self.source))))
        return self.pre_transform(other, rng) if self.pre_transform else other


class MixUp(_FromSource):
    """Blend with another sample (ratio ~ Beta(alpha, alpha)) and keep both sets of labels."""

    def __init__(
        self, source: SampleSource, pre_transform: Transform | None, p: float = 0.0, alpha: float = 32.0
    ) -> None:
        super().__init__(source, pre_transform, p)
        self.alpha = alpha

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if not self._fires(rng):
            return sample
        other = self._other(rng)
        if other["img"].shape != sample["img"].shape:
            raise ValueError(f"MixUp needs equal shapes, got {sample['img'].shape} and {other['img'].shape}")
        r = rng.beta(self.alpha, self.alpha)
        img = cv2.addWeighted(sample["img"], r, other["img"], 1.0 - r, 0.0)
        return {**sample, "img": img, **merge_labels([sample, other])}


class CutMix(_FromSource):
    """Paste a random rectangle of another sample where it hides none of this sample's boxes.

    The rectangle's side is sqrt(1 - lam) of the image, lam ~ Beta(beta, beta); up to `tries`
    rectangles are drawn. Pasted boxes are clipped to it and kept if >= min_visible of each shows.
    """

    def __init__(
        self,
        source: SampleSource,
        pre_transform: Transform | None,
        p: float = 0.0,
        beta: float = 1.0,
        tries: int = 5,
        min_visible: float = 0.1,
    ) -> None:
        super().__init__(source, pre_transform, p)
        self.beta, self.tries, self.min_visible = beta, tries, min_visible

    def _rect(self, sample: Sample, rng: np.random.Generator) -> np.ndarray | None:
        h, w = sample["img"].shape[:2]
        for _ in range(self.tries):
            cut = np.sqrt(1.0 - rng.beta(self.beta, self.beta))
            centre = rng.uniform(0, 1, 2) * (w, h)
            half = np.array([w, h]) * cut / 2
            lo = np.clip(np.round(centre - half), 0, [w, h])
            hi = np.clip(np.round(centre + half), 0, [w, h])
            rect = np.concatenate([lo, hi]).astype(np.float32)
            if (hi - lo).min() >= 2 and not intersection(sample["bboxes"], rect[None]).any():
                return rect
        return None

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if not self._fires(rng) or (rect := self._rect(sample, rng)) is None:
            return sample
        other = self._other(rng)
        if other["img"].shape != sample["img"].shape:
            raise ValueError(f"CutMix needs equal shapes, got {sample['img'].shape} and {other['img'].shape}")
        inside, segs = np.clip(other["bboxes"], rect[:2].tolist() * 2, rect[2:].tolist() * 2), []
        if has_segments(other):  # the polygons cut to the rectangle give tighter boxes
            pts, lengths = clip_polygons(*pack_segments(other["segments"]), rect)
            inside, segs = polygon_bounds(pts, lengths).astype(np.float32), unpack_segments(pts, lengths)
        frac = box_area(inside) / np.maximum(box_area(other["bboxes"]), 1e-9)
        keep = good_boxes(inside, frac, min_visible=self.min_visible)
        if not keep.any():
            return sample
        pasted = select({**other, "bboxes": inside, "segments": segs}, keep)
        x0, y0, x1, y1 = rect.astype(int)
        img = sample["img"].copy()
        img[y0:y1, x0:x1] = other["img"][y0:y1, x0:x1]
        return {**sample, "img": img, **merge_labels([sample, pasted])}


class CopyPaste(_FromSource):
    """Paste object masks where they hide at most max_occlusion of any existing box.

    mode 'flip': the left-right mirrored objects of the same image; mode 'mixup': the objects of
    another sample. Needs polygons: samples without segments pass through untouched.
    """

    def __init__(
        self,
        p: float = 0.0,
        mode: str = "flip",
        source: SampleSource | None = None,
        pre_transform: Transform | None = None,
        max_occlusion: float = 0.3,
    ) -> None:
        if mode not in ("flip", "mixup") or (mode == "mixup" and source is None):
            raise ValueError("CopyPaste mode must be 'flip', or 'mixup' with a source")
        super().__init__(source, pre_transform, p)  # type: ignore[arg-type]
        self.mode, self.max_occlusion = mode, max_occlusion

    def set_mix(self, enabled: bool) -> None:
        self.enabled = enabled or self.mode == "flip"  # flip mode draws on no other image

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if not self._fires(rng) or (self.mode == "flip" and not has_segments(sample)):
            return sample
        if self.mode == "flip":
            donor = flip_sample(sample)
        else:
            donor = self._other(rng)
            if not has_segments(donor) or donor["img"].shape != sample["img"].shape:
                return sample
        return paste_objects(sample, donor, self.max_occlusion)


def paste_objects(sample: Sample, donor: Sample, max_occlusion: float = 0.3) -> Sample:
    """Copy the donor's polygon pixels onto sample for donor objects that hide little of sample's."""
    boxes, dboxes = sample["bboxes"], donor["bboxes"]
    cover = intersection(dboxes, boxes) / np.maximum(box_area(boxes), 1e-9)[None]
    pick = np.flatnonzero((cover <= max_occlusion).all(1))
    if not len(pick):
        return sample
    chosen = select(donor, pick)
    mask = np.zeros(sample["img"].shape[:2], np.uint8)
    polys = [np.round((p - 0.5) * 16).astype(np.int32) for p in chosen["segments"]]  # 1/16 px, centres
    cv2.fillPoly(mask, polys, 255, cv2.LINE_8, 4)
    img = sample["img"].copy()
    cv2.copyTo(donor["img"], mask, img)
    return {**sample, "img": img, **merge_labels([sample, chosen])}
