"""COCO JSON: predictions as COCO results, YOLO labels as COCO ground truth, and a pycocotools bridge.

How pycocotools' bbox mAP relates to ours (metrics.match, metrics.ap) on the same predictions and labels:

* Matching: the same rule (predictions by decreasing score, each takes its highest-IoU free label of its
  class, IoU >= t), evaluated per category over all images, mAP averaged over categories that have labels.
* Interpolation: the one remaining difference. pycocotools averages step-function reads of the precision
  envelope at recall 0:0.01:1; ours (`method="interp"`, what Ultralytics reports) integrates linear reads
  with the trapezoidal rule, the curve ending at (last recall + 0.01, 0). For the fixture checkpoint on
  coco128 train2017 (imgsz 160) ours is lower by 0.0013 mAP50-95 (0.08739 vs 0.08869) and 0.0022 mAP50
  (0.17013 vs 0.17236). `DetectionStats(method="coco")` reproduces pycocotools to 1e-15 there
  (tests/metrics/test_crosscheck.py).
* Detections kept: pycocotools keeps the `maxDets` best *per image and category* (its default 100); NMS keeps
  max_det (300) per image over all classes, so no category of an image exceeds 300: max_dets=300 here keeps
  every detection, as ours does (100 vs 300 changed mAP by < 1e-6 on coco128).
* Area ranges and crowds: only the "all" range is evaluated (mAP is defined on it); labels built from YOLO
  files are never crowds (iscrowd 0), so nothing is ignored.
* Precision: JSON rounding (3 decimals for boxes, 5 for scores) moved mAP by 1e-7 to 2e-6; pass None to skip it.
* Degenerate boxes: pycocotools ignores an unmatched detection whose w * h falls outside the area range (an
  inverted box with negative w and positive h); ours counts it as a false positive. Model boxes never are.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from yoloforge.utils.boxes import to_numpy

# COCO's 80 detection categories as YOLO numbers them (0..79) -> the original COCO category ids (1..90, gaps).
COCO80_TO_91 = (
    *range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66), 67, 70, *range(72, 83), *range(84, 91),
)  # fmt: skip


def coco80_to_coco91() -> list[int]:
    """COCO category id of every YOLO class id 0..79."""
    return list(COCO80_TO_91)


def coco_class_map(names: Mapping[int, str] | Sequence[str]) -> list[int] | None:
    """COCO80_TO_91 when `names` are COCO's 80 class names in YOLO order, else None (keep class ids as they are)."""
    import yaml

    ours = [names[i] for i in range(len(names))]
    coco_yaml = Path(__file__).resolve().parents[1] / "cfg" / "datasets" / "coco.yaml"
    coco = yaml.safe_load(coco_yaml.read_text())["names"]
    return coco80_to_coco91() if ours == [coco[i] for i in range(len(coco))] else None


def image_id_for(path: str | os.PathLike) -> int | str:
    """COCO image id of an image file: its stem as an int when numeric (COCO's own files), else the stem."""
    stem = Path(path).stem
    return int(stem) if stem.isnumeric() else stem


def image_ids_for(paths: Sequence[str | os.PathLike]) -> dict[str, int | str]:
    """image path -> COCO image id: `image_id_for` when no two stems collide, else 1, 2, 3 ... in order.

    Two folders of one split can hold `a.jpg` each; pycocotools needs one id per image.
    """
    files = list(dict.fromkeys(os.fspath(p) for p in paths))
    ids = [image_id_for(f) for f in files]
    if len(set(ids)) < len(ids):
        ids = list(range(1, len(files) + 1))
    return dict(zip(files, ids, strict=True))


def predictions_to_coco_json(
    predictions: Sequence[np.ndarray | torch.Tensor],
    image_ids: Sequence[int | str],
    class_map: Sequence[int] | None = None,
    box_decimals: int | None = 3,
    score_decimals: int | None = 5,
) -> list[dict[str, Any]]:
    """COCO results list from per-image (n, 6) [x1, y1, x2, y2, conf, cls] arrays in original-image pixels.

    bbox is [x, y, w, h] (top-left corner and size); category_id is class_map[cls] (COCO80_TO_91 for COCO),
    else cls. Rounding keeps the file small; pass None to keep full precision.
    """
    out: list[dict[str, Any]] = []
    for pred, image_id in zip(predictions, image_ids, strict=True):
        p = to_numpy(pred).reshape(-1, 6).astype(np.float64)
        xywh = np.concatenate((p[:, :2], p[:, 2:4] - p[:, :2]), 1)
        if box_decimals is not None:
            xywh = xywh.round(box_decimals)
        scores = p[:, 4] if score_decimals is None else p[:, 4].round(score_decimals)
        for box, score, c in zip(xywh.tolist(), scores.tolist(), p[:, 5].astype(int).tolist(), strict=True):
            category = class_map[c] if class_map is not None else c
            out.append({"image_id": image_id, "category_id": int(category), "bbox": box, "score": score})
    return out


def read_yolo_labels(label_file: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(classes (m,), normalised xywh (m, 4)) of a raw YOLO label file, unverified (no dedup, no checks);
    polygon rows become their bounding box. A byte-order mark is allowed, as the verifier allows it.

    Validation builds its ground truth from the verified labels instead (`labels_to_coco_gt`); this reader
    serves cross-checks against files written by other tools.
    """
    path = Path(label_file)
    text = path.read_text(encoding="utf-8-sig") if path.exists() else ""
    cls, boxes = [], []
    for row in (line.split() for line in text.splitlines() if line.strip()):
        vals = [float(v) for v in row[1:]]
        if len(vals) > 4:  # segment: x1 y1 x2 y2 ... normalised polygon
            xs, ys = vals[0::2], vals[1::2]
            vals = [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)]
        cls.append(int(float(row[0])))
        boxes.append(vals)
    return np.array(cls, dtype=np.int64), np.array(boxes, dtype=np.float64).reshape(-1, 4)


class GroundTruth(Protocol):
    """One image's labels as the verifier hands them on (yoloforge.data.labels.ImageLabels has this shape)."""

    im_file: str
    shape: tuple[int, int]  # (h, w) in pixels, EXIF orientation applied
    cls: np.ndarray  # (m,) class ids
    bboxes: np.ndarray  # (m, 4) normalised xywh


def labels_to_coco_gt(
    labels: Sequence[GroundTruth],
    names: Mapping[int, str] | Sequence[str],
    class_map: Sequence[int] | None = None,
    image_ids: Mapping[str, int | str] | None = None,
) -> dict[str, Any]:
    """COCO ground-truth dict (images, annotations, categories) from per-image labels.

    bbox = [x, y, w, h] in pixels (normalised xywh times the image's w and h), area = w * h, iscrowd = 0;
    annotation ids start at 1 (pycocotools treats 0 as "none"). `image_ids` maps im_file -> COCO image id
    (default `image_ids_for`); category_id is class_map[cls] (COCO80_TO_91 for COCO), else cls.
    """
    names = dict(names) if isinstance(names, Mapping) else dict(enumerate(names))
    cat = (lambda c: int(class_map[c])) if class_map is not None else int
    ids = image_ids if image_ids is not None else image_ids_for([lb.im_file for lb in labels])
    images, annotations = [], []
    for lb in labels:
        (h, w), image_id = lb.shape, ids[lb.im_file]
        images.append({"id": image_id, "file_name": Path(lb.im_file).name, "width": int(w), "height": int(h)})
        xywhn = np.asarray(lb.bboxes, dtype=np.float64).reshape(-1, 4)
        for c, (cx, cy, bw, bh) in zip(np.asarray(lb.cls).reshape(-1).tolist(), xywhn.tolist(), strict=True):
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h]
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": cat(int(c)), "bbox": box}
            annotations.append({**ann, "area": box[2] * box[3], "iscrowd": 0})
    categories = [{"id": cat(i), "name": str(n)} for i, n in sorted(names.items())]
    return {"images": images, "annotations": annotations, "categories": categories}


@dataclass(frozen=True)
class _FileLabels:
    im_file: str
    shape: tuple[int, int]
    cls: np.ndarray
    bboxes: np.ndarray


def yolo_labels_to_coco_gt(
    image_files: Sequence[str | os.PathLike],
    label_files: Sequence[str | os.PathLike],
    names: Mapping[int, str] | Sequence[str],
    class_map: Sequence[int] | None = None,
) -> dict[str, Any]:
    """`labels_to_coco_gt` over raw label files (`read_yolo_labels`, unverified) and the images' real sizes.

    Image sizes are read from the files (EXIF orientation applied); a missing label file means no objects.
    """
    from yoloforge.data.images import image_size

    labels = [
        _FileLabels(os.fspath(im), image_size(im), *read_yolo_labels(lb))
        for im, lb in zip(image_files, label_files, strict=True)
    ]
    return labels_to_coco_gt(labels, names, class_map, {lb.im_file: image_id_for(lb.im_file) for lb in labels})


def evaluate_with_pycocotools(
    gt: dict[str, Any], predictions: Sequence[dict[str, Any]], max_dets: int = 300
) -> dict[str, float]:
    """{'map', 'map50', 'map75'} by pycocotools' COCOeval (bbox, area range "all", max_dets per image/category).

    Inputs are not modified. Read from the accumulated precision array rather than summarize(), whose first
    line is hard-wired to maxDets=100 and reads -1 for any other value.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not predictions:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([dict(p) for p in predictions])
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.maxDets = [1, 10, max_dets]
        ev.params.areaRng, ev.params.areaRngLbl = [[0.0, 1e10]], ["all"]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][:, :, :, 0, -1]  # (iou, recall, category) at area "all", max_dets

    def mean(x: np.ndarray) -> float:
        x = x[x > -1]
        return float(x.mean()) if x.size else 0.0

    return {"map": mean(prec), "map50": mean(prec[0]), "map75": mean(prec[5])}
