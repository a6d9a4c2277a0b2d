"""save_json=True: COCO-format predictions, the ground truth converted from YOLO labels, and pycocotools' mAP."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yoloforge.utils.io import atomic_write_text
from yoloforge.utils.log import LOGGER


def save_coco_json(predictions: Sequence[Mapping[str, Any]], names: Mapping[int, str], save_dir: Path) -> dict:
    """Write predictions.json and ground_truth.json into `save_dir`; return pycocotools' {map, map50, map75}
    (empty when pycocotools is not installed)."""
    from yoloforge.data.files import label_paths_for
    from yoloforge.metrics.coco import (
        coco_class_map,
        evaluate_with_pycocotools,
        image_id_for,
        predictions_to_coco_json,
        yolo_labels_to_coco_gt,
    )

    files = [p["im_file"] for p in predictions]
    class_map = coco_class_map(names)
    preds = predictions_to_coco_json([p["pred"] for p in predictions], [image_id_for(f) for f in files], class_map)
    gt = yolo_labels_to_coco_gt(files, label_paths_for(files), names, class_map)
    atomic_write_text(save_dir / "predictions.json", json.dumps(preds))
    atomic_write_text(save_dir / "ground_truth.json", json.dumps(gt))
    LOGGER.info("Saved %d COCO predictions to %s (ground truth converted from the YOLO labels)", len(preds),
                save_dir / "predictions.json")  # fmt: skip
    try:
        result = evaluate_with_pycocotools(gt, preds)
    except ImportError:
        LOGGER.info("pycocotools is not installed; skipping its cross-check (pip install pycocotools)")
        return {}
    LOGGER.info("pycocotools: mAP50-95 %.4f, mAP50 %.4f (its 101-point average; ours integrates the same envelope "
                "by the trapezoid rule, as the incumbent)", result["map"], result["map50"])  # fmt: skip
    return result
