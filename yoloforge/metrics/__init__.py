"""Detection metrics: matching, AP, the metrics object, confusion matrix and the COCO JSON bridge.

Names are loaded on first use, so importing the package costs nothing (pycocotools and matplotlib are only
imported inside the functions that need them).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "IOU_THRESHOLDS": "match",
    "match_predictions": "match",
    "APResult": "ap",
    "ap_per_class": "ap",
    "compute_ap": "ap",
    "smooth": "ap",
    "BoxMetrics": "results",
    "DetMetrics": "results",
    "Metrics": "results",
    "DetectionStats": "results",
    "ConfusionMatrix": "confusion",
    "coco80_to_coco91": "coco",
    "predictions_to_coco_json": "coco",
    "yolo_labels_to_coco_gt": "coco",
    "labels_to_coco_gt": "coco",
    "evaluate_with_pycocotools": "coco",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"yoloforge.metrics.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'yoloforge.metrics' has no attribute {name!r}")
