"""Mosaics of a batch with its boxes (train_batch0.jpg, val_batch0_labels.jpg, val_batch0_pred.jpg).

They let a user check at a glance that augmentation and labels line up and what the model predicts.
Images come as uint8 (or 0..1 float) RGB, BCHW or BHWC, torch or numpy; boxes are either ground truth
rows `batch_idx, cls, x, y, w, h` (normalised, or pixels) or per-image predictions (n, 6)
`x1, y1, x2, y2, conf, cls` in pixels. Boxes are drawn by `yoloforge.utils.annotate.draw_boxes`, so a
class has the same colour here as in predictions saved by `predict`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yoloforge.utils.annotate import draw_boxes
from yoloforge.utils.boxes import to_numpy
from yoloforge.utils.io import atomic_write_bytes

MAX_MOSAIC = 1920  # longest side of the mosaic in pixels
MIN_TILE = 320  # small images are enlarged up to this so box labels stay legible
Boxes = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # xyxy pixels, cls, conf (None for ground truth)


def _to_bhwc_uint8(images: Any) -> np.ndarray:
    """The batch as (B, H, W, 3) uint8 RGB whatever layout and range it came in."""
    a = to_numpy(images)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"images must be a (B, C, H, W) or (B, H, W, C) batch, got shape {a.shape}")
    if a.shape[1] in (1, 3):  # BCHW (the ambiguous case of 1 or 3 rows and channels is taken as BCHW too)
        a = a.transpose(0, 2, 3, 1)
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
        if a.size and np.nanmax(a) <= 1.0:
            a = a * 255
        a = np.nan_to_num(a).clip(0, 255).astype(np.uint8)
    return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a[..., :3]


def _ground_truth(t: np.ndarray, n: int, h: int, w: int) -> list[Boxes]:
    """Rows `batch_idx, cls, x, y, w, h` split per image as xyxy pixels (normalised when all <= 1)."""
    t = t.reshape(-1, t.shape[-1] if t.size else 6).astype(np.float64)
    t = t[np.isfinite(t[:, :6]).all(1)]
    xywh = t[:, 2:6].copy()
    if len(xywh) and np.abs(xywh).max() <= 1.01:
        xywh *= (w, h, w, h)
    xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
    idx = t[:, 0].astype(int)
    return [(xyxy[idx == i], t[idx == i, 1].astype(int), None) for i in range(n)]


def _predictions(preds: Sequence[Any], n: int, conf_thresh: float) -> list[Boxes]:
    """Per-image (k, 6) `x1, y1, x2, y2, conf, cls` kept above conf_thresh."""
    out: list[Boxes] = []
    for i in range(n):
        p = to_numpy(preds[i]).astype(np.float64).reshape(-1, 6) if i < len(preds) else np.zeros((0, 6))
        p = p[np.isfinite(p).all(1) & (p[:, 4] >= conf_thresh)]
        out.append((p[:, :4], p[:, 5].astype(int), p[:, 4]))
    return out


def _text(img: np.ndarray, text: str, org: tuple[int, int], color: tuple[int, int, int], scale: float) -> None:
    """Text on a filled box of `color`; white or black letters, whichever reads better."""
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x, y = org
    y = max(y, th + base + 2)  # org is the bottom-left of the text box; keep it inside the image
    cv2.rectangle(img, (x, y - th - base - 2), (x + tw + 2, y), color, -1)
    ink = (0, 0, 0) if sum(color) > 450 else (255, 255, 255)
    cv2.putText(img, text, (x + 1, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, thick, cv2.LINE_AA)


def _layout(n: int, h: int, w: int) -> tuple[int, int, float]:
    """Columns, rows and the scale that keeps the mosaic <= MAX_MOSAIC yet tiles >= MIN_TILE where possible."""
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    scale = min(MAX_MOSAIC / max(ncols * w, nrows * h), max(1.0, MIN_TILE / max(h, w)))
    return ncols, nrows, scale


def _encode(path: Path, img: np.ndarray) -> Path:
    ext = path.suffix.lower() or ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise ValueError(f"could not encode {path}")
    atomic_write_bytes(path, buf.tobytes())
    return path


def _tile(img_rgb: np.ndarray, boxes: Boxes, size: tuple[int, int], scale: float, names: Any, fname: str) -> np.ndarray:
    """One image resized, with its boxes and file name drawn, framed by a thin white border."""
    tile = cv2.cvtColor(img_rgb, cv2.COLOR_RGB2BGR)
    if scale != 1.0:
        tile = cv2.resize(tile, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    xyxy, cls, conf = boxes
    if len(xyxy):
        tile = draw_boxes(tile, xyxy * scale, cls, conf, names)
    if fname:  # bottom-left: box labels sit on top edges, letterbox padding usually at the bottom
        _text(tile, Path(fname).name[:40], (2, size[1] - 2), (255, 255, 255), max(0.4, size[0] / 800))
    cv2.rectangle(tile, (0, 0), (size[0] - 1, size[1] - 1), (255, 255, 255), 2)
    return tile


def plot_image_grid(
    images: Any,
    targets_or_preds: Any,
    names: Any,
    path: str | Path,
    max_images: int = 16,
    conf_thresh: float = 0.25,
    fnames: Sequence[str] | None = None,
) -> Path:
    """Write a mosaic of up to max_images images with their ground-truth or predicted boxes."""
    path = Path(path)
    imgs = _to_bhwc_uint8(images)[:max_images]
    n = len(imgs)
    if n == 0 or imgs.shape[1] == 0 or imgs.shape[2] == 0:
        blank = np.full((MIN_TILE, MIN_TILE, 3), 255, np.uint8)
        _text(blank, "empty batch", (10, MIN_TILE // 2), (114, 114, 114), 0.8)
        return _encode(path, blank)
    h, w = imgs.shape[1:3]
    ncols, nrows, scale = _layout(n, h, w)
    tw, th = round(w * scale), round(h * scale)
    if isinstance(targets_or_preds, list | tuple):
        per_image = _predictions(targets_or_preds, n, conf_thresh)
    else:
        per_image = _ground_truth(to_numpy(targets_or_preds), n, h, w)
    fnames = list(fnames or [])
    mosaic = np.full((nrows * th, ncols * tw, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        fname = fnames[i] if i < len(fnames) else ""
        tile = _tile(imgs[i], per_image[i], (tw, th), scale, names, fname)
        mosaic[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = tile
    return _encode(path, mosaic)
