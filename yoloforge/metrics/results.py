"""The detection metrics object and the streaming accumulator that builds it batch by batch.

stats = DetectionStats(nc=80, names=names)
for batch in loader:                       # preds and labels in the same pixel space (e.g. original image)
    stats.update(preds_per_image, labels_per_image)
metrics = stats.compute()                  # DetMetrics
metrics.box.map, metrics.results_dict, metrics.class_table()
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from yoloforge.metrics.ap import APResult, ap_per_class
from yoloforge.metrics.confusion import ConfusionMatrix, split_labels
from yoloforge.metrics.match import IOU_THRESHOLDS, match_predictions
from yoloforge.utils.boxes import box_iou, to_numpy

KEYS = ("metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)")


@dataclass
class BoxMetrics:
    """Box metrics of one evaluation. Per-class arrays follow `ap_class_index` (classes that have labels)."""

    nc: int
    p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    r: np.ndarray = field(default_factory=lambda: np.zeros(0))
    f1: np.ndarray = field(default_factory=lambda: np.zeros(0))
    all_ap: np.ndarray = field(default_factory=lambda: np.zeros((0, 10)))  # (k, 10): IoU 0.50:0.05:0.95
    ap_class_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))

    @classmethod
    def from_ap(cls, nc: int, res: APResult) -> BoxMetrics:
        return cls(nc, res.p, res.r, res.f1, res.ap, res.classes)

    @staticmethod
    def _mean(x: np.ndarray) -> float:
        return float(x.mean()) if x.size else 0.0

    @property
    def ap50(self) -> np.ndarray:
        return self.all_ap[:, 0] if self.all_ap.size else np.zeros(0)

    @property
    def ap(self) -> np.ndarray:
        """AP50-95 per class."""
        return self.all_ap.mean(1) if self.all_ap.size else np.zeros(0)

    mp = property(lambda self: self._mean(self.p), doc="Mean precision over classes.")
    mr = property(lambda self: self._mean(self.r), doc="Mean recall over classes.")
    map50 = property(lambda self: self._mean(self.ap50), doc="mAP at IoU 0.5.")
    map75 = property(lambda self: self._mean(self.all_ap[:, 5]) if self.all_ap.size else 0.0, doc="mAP at IoU 0.75.")
    map = property(lambda self: self._mean(self.all_ap), doc="mAP at IoU 0.5:0.95.")

    @property
    def maps(self) -> np.ndarray:
        """(nc,) mAP50-95 per class id; classes without labels get the overall mAP (as Ultralytics does)."""
        out = np.full(self.nc, self.map)
        out[self.ap_class_index] = self.ap
        return out

    def mean_results(self) -> list[float]:
        return [self.mp, self.mr, self.map50, self.map]

    def class_result(self, i: int) -> tuple[float, float, float, float]:
        """(P, R, AP50, AP50-95) of the i-th class of ap_class_index."""
        return float(self.p[i]), float(self.r[i]), float(self.ap50[i]), float(self.ap[i])

    def fitness(self) -> float:
        """mAP50-95 alone (Ultralytics' current rule)."""
        return self.map


@dataclass
class DetMetrics:
    """Box metrics plus what a validator reports with them: counts, speed, curves and the confusion matrix."""

    names: dict[int, str]
    box: BoxMetrics
    nt_per_class: np.ndarray  # (nc,) labels per class
    nt_per_image: np.ndarray  # (nc,) images containing the class
    n_images: int = 0
    speed: dict[str, float] = field(
        default_factory=lambda: {"preprocess": 0.0, "inference": 0.0, "loss": 0.0, "postprocess": 0.0}
    )  # ms per image, filled by the validator
    curves: APResult | None = None  # P/R/F1 vs confidence and PR envelope, for plots
    confusion_matrix: ConfusionMatrix | None = None
    coco: dict[str, float] = field(default_factory=dict)  # pycocotools' map/map50/map75 when save_json=True
    save_dir: Path | None = None  # the run folder of the validation (or training) that made these metrics

    def __getitem__(self, key: str) -> float:
        """results_dict[key]: reads written when YOLO.train() returned that dict keep working."""
        return self.results_dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self.results_dict

    def __iter__(self) -> Iterator[str]:
        """The results_dict keys (so `set(metrics)` and `for key in metrics` work as on that dict)."""
        return iter(self.results_dict)

    @property
    def keys(self) -> list[str]:
        return list(KEYS)

    @property
    def fitness(self) -> float:
        return self.box.fitness()

    @property
    def results_dict(self) -> dict[str, float]:
        return dict(zip([*KEYS, "fitness"], [*self.box.mean_results(), self.fitness], strict=True))

    @property
    def maps(self) -> np.ndarray:
        return self.box.maps

    def curves_results(self) -> list[tuple[np.ndarray, np.ndarray, str, str]]:
        """(x, per-class y, x label, y label) of the PR, F1, P and R curves; empty before compute()."""
        c = self.curves
        if c is None:
            return []
        return [
            (c.px, c.pr_curve, "Recall", "Precision"),
            (c.px, c.f1_curve, "Confidence", "F1"),
            (c.px, c.p_curve, "Confidence", "Precision"),
            (c.px, c.r_curve, "Confidence", "Recall"),
        ]

    def class_table(self) -> list[dict[str, float | int | str]]:
        """One row per class with labels: class, images, instances, P, R, mAP50, mAP50-95 (first row: all)."""
        rows = [self._row("all", self.n_images, int(self.nt_per_class.sum()), *self.box.mean_results())]
        for i, c in enumerate(self.box.ap_class_index):
            counts = int(self.nt_per_image[c]), int(self.nt_per_class[c])
            rows.append(self._row(self.names.get(int(c), str(c)), *counts, *self.box.class_result(i)))
        return rows

    @staticmethod
    def _row(name: str, images: int, instances: int, p: float, r: float, m50: float, m: float) -> dict:
        return {"class": name, "images": images, "instances": instances, "P": p, "R": r, "mAP50": m50, "mAP50-95": m}

    def table_str(self) -> str:
        """The class table as aligned text."""
        head = f"{'Class':>22}{'Images':>11}{'Instances':>11}{'P':>11}{'R':>11}{'mAP50':>11}{'mAP50-95':>11}"
        lines = [head]
        for row in self.class_table():
            nums = "".join(f"{row[k]:11.3g}" for k in ("P", "R", "mAP50", "mAP50-95"))
            lines.append(f"{row['class']!s:>22}{row['images']:>11}{row['instances']:>11}{nums}")
        return "\n".join(lines)


Metrics = DetMetrics


class DetectionStats:
    """Streaming accumulator: per-image true-positive flags, confidences and classes, then DetMetrics.

    update() takes, per image, predictions (n, 6) [x1, y1, x2, y2, conf, cls] and labels, either (m, 5)
    [cls, x1, y1, x2, y2] or a (cls, boxes) pair, both in the same pixel space. Torch tensors or numpy arrays.
    `rule` and `method` choose the matching rule (metrics.match) and AP integration (metrics.ap).
    """

    def __init__(
        self,
        nc: int,
        names: Mapping[int, str] | Sequence[str] | None = None,
        iou_thresholds: np.ndarray = IOU_THRESHOLDS,
        confusion: ConfusionMatrix | None = None,
        rule: str = "greedy",
        method: str = "interp",
    ) -> None:
        self.nc, self.iou_thresholds, self.confusion = nc, np.asarray(iou_thresholds), confusion
        self.names = dict(names) if isinstance(names, Mapping) else dict(enumerate(names or range(nc)))
        self.names = {int(k): str(v) for k, v in self.names.items()}
        self.rule, self.method = rule, method
        self.reset()

    def reset(self) -> None:
        self._tp: list[np.ndarray] = []
        self._conf: list[np.ndarray] = []
        self._pred_cls: list[np.ndarray] = []
        self._target_cls: list[np.ndarray] = []
        self._target_img: list[np.ndarray] = []
        self.n_images = 0

    def update(self, preds_per_image: Sequence, labels_per_image: Sequence) -> None:
        """Add a batch: one predictions array and one labels array per image (class docstring)."""
        if len(preds_per_image) != len(labels_per_image):
            raise ValueError(f"{len(preds_per_image)} prediction sets for {len(labels_per_image)} label sets")
        for pred, labels in zip(preds_per_image, labels_per_image, strict=True):
            self.update_image(pred, labels)

    def update_image(self, pred: np.ndarray | torch.Tensor | None, labels: np.ndarray | torch.Tensor | tuple) -> None:
        """Add one image."""
        true_cls, true_boxes = split_labels(labels)
        det = np.zeros((0, 6)) if pred is None else to_numpy(pred).reshape(-1, 6).astype(np.float64)
        det = det[np.argsort(-det[:, 4], kind="stable")]  # matching rules need decreasing confidence
        iou = box_iou(det[:, :4], true_boxes)
        self._tp.append(match_predictions(det[:, 5], true_cls, iou, self.iou_thresholds, self.rule))
        self._conf.append(det[:, 4])
        self._pred_cls.append(det[:, 5].astype(np.int64))
        self._target_cls.append(true_cls)
        self._target_img.append(np.unique(true_cls))
        self.n_images += 1
        if self.confusion is not None:
            self.confusion.update(det, (true_cls, true_boxes))

    def compute(self) -> DetMetrics:
        """DetMetrics of everything added so far."""
        cat = np.concatenate
        tp = cat(self._tp) if self._tp else np.zeros((0, len(self.iou_thresholds)), dtype=bool)
        conf, pred_cls = cat([np.zeros(0), *self._conf]), cat([np.zeros(0, np.int64), *self._pred_cls])
        target_cls = cat([np.zeros(0, np.int64), *self._target_cls])
        target_img = cat([np.zeros(0, np.int64), *self._target_img])
        res = ap_per_class(tp, conf, pred_cls, target_cls, self.method)
        return DetMetrics(
            names=self.names,
            box=BoxMetrics.from_ap(self.nc, res),
            nt_per_class=np.bincount(target_cls, minlength=self.nc),
            nt_per_image=np.bincount(target_img, minlength=self.nc),
            n_images=self.n_images,
            curves=res,
            confusion_matrix=self.confusion,
        )
