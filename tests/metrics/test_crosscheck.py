"""The fixture checkpoint on coco128 train2017: our metrics vs pycocotools, and vs Ultralytics' own numbers.

Predictions are made the way Ultralytics' validator prepares images (so its printed numbers can be
compared): images sorted by aspect ratio, batches of 16 padded to a shared rectangular shape, each image
resized so its long side is 160 (bilinear, sizes rounded up) and centred with grey (114) padding; NMS at
conf=0.001, iou=0.7, multi-label, max_det=300; boxes mapped back to original pixels *without clipping* (the
Ultralytics matches unclipped predictions; clipping moved its P and R by ~0.1 here).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch

from yoloforge.metrics.coco import (
    evaluate_with_pycocotools,
    predictions_to_coco_json,
    read_yolo_labels,
    yolo_labels_to_coco_gt,
)
from yoloforge.metrics.results import DetectionStats
from yoloforge.utils.boxes import scale_boxes, xywhn2xyxy
from yoloforge.utils.nms import non_max_suppression

IMGSZ, BATCH, STRIDE = 160, 16, 32
# fixtures README: Ultralytics' validator on these images, imgsz=160 batch=16 conf=0.001 iou=0.7
REFERENCE = {"mp": 0.485832, "mr": 0.137397, "map50": 0.170097, "map": 0.087369}


def _batch_shape(aspects: np.ndarray) -> tuple[int, int]:
    """(h, w) shared by a batch: the long side IMGSZ, the short side fits the batch's extreme aspect ratio."""
    lo, hi = aspects.min(), aspects.max()
    rel = (hi, 1.0) if hi < 1 else (1.0, 1 / lo) if lo > 1 else (1.0, 1.0)
    h, w = (math.ceil(r * IMGSZ / STRIDE + 0.5) * STRIDE for r in rel)
    return h, w


def _letterbox(im: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, tuple]:
    """Resize (long side IMGSZ) and centre-pad to `shape`; returns the image and ((gain_h, gain_w), (pad_w, pad_h))."""
    h0, w0 = im.shape[:2]
    r = IMGSZ / max(h0, w0)
    w, h = min(math.ceil(w0 * r), IMGSZ), min(math.ceil(h0 * r), IMGSZ)
    im = cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR)
    dh, dw = (shape[0] - h) / 2, (shape[1] - w) / 2
    top, left = round(dh - 0.1), round(dw - 0.1)
    im = cv2.copyMakeBorder(
        im, top, shape[0] - h - top, left, shape[1] - w - left, cv2.BORDER_CONSTANT, value=(114,) * 3
    )
    return im, ((h / h0, w / w0), (left, top))


def _labels(label_file: Path, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    cls, xywhn = read_yolo_labels(label_file)
    return cls, xywhn2xyxy(xywhn, w, h)


def _predict(coco128_dir: Path, fixtures_dir: Path) -> dict:
    """Predictions for coco128 train2017 in original pixels, with labels (images in aspect-ratio order)."""
    from yoloforge import YOLO

    model = YOLO(str(fixtures_dir / "yolo11n-coco128-overfit160.pt")).model.float().eval()
    images = sorted((coco128_dir / "images" / "train2017").glob("*.jpg"))
    originals = [cv2.imread(str(p)) for p in images]
    order = np.argsort([im.shape[0] / im.shape[1] for im in originals])
    images, originals = [images[i] for i in order], [originals[i] for i in order]
    preds = []
    for b in range(0, len(images), BATCH):
        ims = originals[b : b + BATCH]
        shape = _batch_shape(np.array([im.shape[0] / im.shape[1] for im in ims]))
        boxed = [_letterbox(im, shape) for im in ims]
        x = torch.from_numpy(np.stack([lb[..., ::-1].transpose(2, 0, 1) for lb, _ in boxed]).copy()).float() / 255
        with torch.no_grad():
            dets = non_max_suppression(model(x), conf=0.001, iou=0.7, multi_label=True, max_det=300, time_limit=120)
        for det, im, (_, ratio_pad) in zip(dets, ims, boxed, strict=True):
            det[:, :4] = scale_boxes(det[:, :4], shape, im.shape, ratio_pad=ratio_pad, clip=False)
            preds.append(det)
    label_files = [coco128_dir / "labels" / "train2017" / f"{p.stem}.txt" for p in images]
    labels = [_labels(f, *im.shape[:2]) for f, im in zip(label_files, originals, strict=True)]
    return {"images": images, "label_files": label_files, "preds": preds, "labels": labels, "names": model.names}


def _ours(p: dict, **kw: str) -> dict[str, float]:
    stats = DetectionStats(nc=80, names=p["names"], **kw)
    stats.update(p["preds"], p["labels"])
    m = stats.compute()
    assert int(m.nt_per_class.sum()) == 929  # as Ultralytics counts (fixtures README)
    return {"mp": m.box.mp, "mr": m.box.mr, "map50": m.box.map50, "map": m.box.map}


def test_fixture_model_metrics(coco128_dir: Path, fixtures_dir: Path) -> None:
    """One test, so the inference (the slow part) runs once even under pytest -n 2."""
    p = _predict(coco128_dir, fixtures_dir)
    ours, same = _ours(p), _ours(p, method="coco")
    gt = yolo_labels_to_coco_gt(p["images"], p["label_files"], p["names"])
    ids = [int(f.stem) for f in p["images"]]
    ref = evaluate_with_pycocotools(gt, predictions_to_coco_json(p["preds"], ids, None, None, None), max_dets=300)
    tolerance = {"mp": 2e-6, "mr": 2e-6, "map50": 5e-5, "map": 5e-5}  # P, R to 6 digits; mAP to 3e-5 (metrics.ap)
    problems = [
        f"{k}: ours {ours[k]:.7f} vs theirs {v:.7f}" for k, v in REFERENCE.items() if abs(ours[k] - v) > tolerance[k]
    ]
    # pycocotools' interpolation (method="coco"): the same definition end to end, so equal
    problems += [f"{k}: coco-method {same[k]:.8f} vs pycocotools {ref[k]:.8f}" for k in ("map", "map50")
                 if abs(same[k] - ref[k]) > 1e-6]  # fmt: skip
    # default: Ultralytics' quadrature, slightly lower than pycocotools' (metrics.coco docstring)
    gaps = {"map": ours["map"] - ref["map"], "map50": ours["map50"] - ref["map50"]}
    if not (-0.002 < gaps["map"] < 0 and -0.004 < gaps["map50"] < 0):
        problems.append(f"default vs pycocotools: {gaps} outside the documented interpolation gap")
    assert not problems, "\n".join(problems)
