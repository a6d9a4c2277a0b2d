"""Benchmark: our mAP vs pycocotools on the same predictions, and NMS on 30000 boxes.

    .venv/bin/python bench/metrics.py                  # coco128 val2017, fixture checkpoint, imgsz 160
    .venv/bin/python bench/metrics.py --imgsz 640 --repeat 5 --skip-nms

Predictions come from the Ultralytics-trained fixture checkpoint (square letterbox, NMS conf=0.001 iou=0.7
multi-label max_det=300). Times are wall-clock minima over --repeat runs, in this process (so they include
pycocotools' Python loops and our numpy matching alike).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from yoloforge.utils.nms import nms, non_max_suppression

SHARED = Path(__file__).resolve().parents[2] / "shared"


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(fastest wall time in seconds, last result)."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def letterbox(im: np.ndarray, size: int) -> tuple[np.ndarray, tuple]:
    h0, w0 = im.shape[:2]
    r = size / max(h0, w0)
    w, h = min(math.ceil(w0 * r), size), min(math.ceil(h0 * r), size)
    im = cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR)
    top, left = (size - h) // 2, (size - w) // 2
    im = cv2.copyMakeBorder(im, top, size - h - top, left, size - w - left, cv2.BORDER_CONSTANT, value=(114,) * 3)
    return im, ((h / h0, w / w0), (left, top))


def predict(images: list[Path], imgsz: int, batch: int = 16) -> tuple[list[torch.Tensor], list[tuple], float]:
    """Predictions in original pixels, original shapes, and NMS milliseconds per image."""
    from yoloforge import YOLO

    model = YOLO(str(SHARED / "fixtures" / "ultralytics" / "yolo11n-coco128-overfit160.pt")).model.float().eval()
    preds, shapes, nms_s = [], [], 0.0
    for b in range(0, len(images), batch):
        originals = [cv2.imread(str(p)) for p in images[b : b + batch]]
        boxed = [letterbox(im, imgsz) for im in originals]
        x = torch.from_numpy(np.stack([lb[..., ::-1].transpose(2, 0, 1) for lb, _ in boxed]).copy()).float() / 255
        with torch.no_grad():
            out = model(x)
        t = time.perf_counter()
        dets = non_max_suppression(out, conf=0.001, iou=0.7, multi_label=True, max_det=300, time_limit=600)
        nms_s += time.perf_counter() - t
        for det, im, (_, ratio_pad) in zip(dets, originals, boxed, strict=True):
            det[:, :4] = scale_boxes(det[:, :4], (imgsz, imgsz), im.shape, ratio_pad=ratio_pad, clip=False)
            preds.append(det)
            shapes.append(im.shape[:2])
    return preds, shapes, 1000 * nms_s / len(images)


def bench_map(split: str, imgsz: int, repeat: int) -> None:
    root = SHARED / "datasets" / "coco128"
    images = sorted((root / "images" / split).glob("*.jpg"))
    label_files = [root / "labels" / split / f"{p.stem}.txt" for p in images]
    preds, shapes, nms_ms = predict(images, imgsz)
    labels = []
    for f, (h, w) in zip(label_files, shapes, strict=True):
        cls, xywhn = read_yolo_labels(f)
        labels.append((cls, xywhn2xyxy(xywhn, w, h)))
    names = {i: str(i) for i in range(80)}

    def ours(method: str = "interp") -> DetectionStats:
        stats = DetectionStats(nc=80, names=names, method=method)
        stats.update(preds, labels)
        return stats.compute()

    gt = yolo_labels_to_coco_gt(images, label_files, names)
    dt = predictions_to_coco_json(preds, [int(p.stem) for p in images])
    t_ours, m = best_of(ours, repeat)
    t_same, m_same = best_of(lambda: ours("coco"), repeat)
    t_coco, ref = best_of(lambda: evaluate_with_pycocotools(gt, dt, max_dets=300), repeat)
    t_full, _ = best_of(lambda: _pycocotools_default(gt, dt), repeat)
    n_det = sum(len(p) for p in preds)
    print(f"coco128 {split}, {len(images)} images, imgsz {imgsz}, {n_det} detections; NMS {nms_ms:.1f} ms/image")
    print(f"{'evaluator':44}{'seconds':>9}{'mAP50-95':>10}{'mAP50':>9}")
    print(f"{'yoloforge (default: Ultralytics quadrature)':44}{t_ours:9.3f}{m.box.map:10.5f}{m.box.map50:9.5f}")
    print(f"{'yoloforge method=coco':44}{t_same:9.3f}{m_same.box.map:10.5f}{m_same.box.map50:9.5f}")
    print(f"{'pycocotools (area all, maxDets 300)':44}{t_coco:9.3f}{ref['map']:10.5f}{ref['map50']:9.5f}")
    print(f"{'pycocotools (stock: 4 areas, summarize)':44}{t_full:9.3f}")


def _pycocotools_default(gt: dict, dt: list) -> None:
    """pycocotools as usually run: default parameters, all area ranges, summarize()."""
    import contextlib
    import copy
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes([dict(d) for d in dt]), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()


def _boxes(n: int, clusters: int | None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    if clusters:
        centres, sizes = torch.rand(clusters, 2, generator=g) * 640, torch.rand(clusters, 2, generator=g) * 200 + 10
        k = torch.randint(0, clusters, (n,), generator=g)
        xy = centres[k] + torch.randn(n, 2, generator=g) * 10
        wh = sizes[k] * (1 + 0.2 * torch.randn(n, 2, generator=g)).clamp(min=0.3)
    else:
        xy, wh = torch.rand(n, 2, generator=g) * 640, torch.rand(n, 2, generator=g) * 150 + 2
    return torch.cat((xy - wh / 2, xy + wh / 2), 1), torch.rand(n, generator=g)


def bench_nms(repeat: int) -> None:
    print(f"\nnms() on 30000 boxes, IoU 0.7 ({torch.get_num_threads()} torch threads; NMS uses no thread pool on CPU)")
    print(f"{'boxes':32}{'max_keep':>9}{'kept':>7}{'ms':>10}")
    for name, clusters in (("uniform random", None), ("50 clusters (detector-like)", 50), ("5 dense clusters", 5)):
        boxes, scores = _boxes(30000, clusters)
        for max_keep in (300, None):
            t, keep = best_of(lambda b=boxes, s=scores, k=max_keep: nms(b, s, 0.7, max_keep=k), repeat)
            print(f"{name:32}{max_keep or '-':>9}{len(keep):>7}{1000 * t:10.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--imgsz", type=int, default=160, help="160: the fixture model's training size")
    ap.add_argument("--split", default="val2017")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-nms", action="store_true", help="only the mAP comparison")
    args = ap.parse_args()
    bench_map(args.split, args.imgsz, args.repeat)
    if not args.skip_nms:
        bench_nms(args.repeat)


if __name__ == "__main__":
    main()
