"""save_json=True: COCO-format predictions, the ground truth from the verified labels, and pycocotools' mAP."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yoloforge.utils.io import atomic_write_text
from yoloforge.utils.log import LOGGER


def save_coco_json(
    predictions: Sequence[Mapping[str, Any]], labels: Sequence[Any], names: Mapping[int, str], save_dir: Path
) -> dict:
    """Write predictions.json and ground_truth.json into `save_dir`; return pycocotools' {map, map50, map75}
    (empty when pycocotools is not installed).

    `labels` are the split's verified labels (`DetectionDataset.labels`: duplicates removed, `classes` and
    `single_cls` applied), the very ground truth our metric uses, so the two figures differ only by their
    interpolation (metrics.coco docstring), never by what they count.
    """
    from yoloforge.metrics.coco import coco_class_map, evaluate_with_pycocotools, image_ids_for, labels_to_coco_gt
    from yoloforge.metrics.coco import predictions_to_coco_json as to_json

    class_map = coco_class_map(names)
    ids = image_ids_for([lb.im_file for lb in labels])
    preds = to_json([p["pred"] for p in predictions], [ids[p["im_file"]] for p in predictions], class_map)
    gt = labels_to_coco_gt(labels, names, class_map, ids)
    atomic_write_text(save_dir / "predictions.json", json.dumps(preds))
    atomic_write_text(save_dir / "ground_truth.json", json.dumps(gt))
    LOGGER.info("Saved %d COCO predictions to %s (ground truth: the verified labels the metrics use)", len(preds),
                save_dir / "predictions.json")  # fmt: skip
    try:
        result = evaluate_with_pycocotools(gt, preds)
    except ImportError:
        LOGGER.info("pycocotools is not installed; skipping its cross-check (pip install pycocotools)")
        return {}
    LOGGER.info("pycocotools: mAP50-95 %.4f, mAP50 %.4f (its 101-point average; ours integrates the same envelope "
                "by the trapezoid rule, as Ultralytics)", result["map"], result["map50"])  # fmt: skip
    return result
