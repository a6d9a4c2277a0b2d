"""Validation: inference over a split, NMS, matching in original-image pixels, metrics.

The same code runs after each training epoch and in val mode, so the validation at the end of
training and a standalone validation of best.pt with the same settings give the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from yoloforge.cfg.schema import RunConfig
from yoloforge.utils.log import LOGGER

VAL_CONF = 0.001  # the default confidence threshold for validation (conf=None)
LOSS_KEYS = ("val/box_loss", "val/cls_loss", "val/dfl_loss")
PLOTTED_BATCHES = 3


@dataclass
class ValResult:
    """Metrics of one validation pass, plus the mean validation losses when a loss was given."""

    metrics: Any
    loss: torch.Tensor = field(default_factory=lambda: torch.zeros(3))
    predictions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def loss_dict(self) -> dict[str, float]:
        return dict(zip(LOSS_KEYS, self.loss.tolist(), strict=True))


class Validator:
    """Validates a model on a (rect, letterboxed) loader.

    `names` are the dataset's classes; with `cfg.single_cls` the labels are already merged into class 0
    (labels.load_labels), every prediction's class is set to 0 after class-agnostic NMS (as Ultralytics'
    validator does), and the one class is reported as 'item'.
    """

    def __init__(
        self, loader: Any, names: dict[int, str], cfg: RunConfig, device: torch.device, save_dir: Path | None = None
    ) -> None:
        from yoloforge.data.dataset_yaml import run_class_names

        self.loader, self.names, self.cfg, self.device = loader, run_class_names(names, cfg.single_cls), cfg, device
        self.save_dir = save_dir
        self.conf = VAL_CONF if cfg.conf is None else cfg.conf

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module, criterion: Any = None, final: bool = False) -> ValResult:
        from yoloforge.metrics import ConfusionMatrix, DetectionStats

        was_training = model.training
        model.eval()
        plots = final and self.cfg.plots and self.save_dir is not None
        confusion = ConfusionMatrix(nc=len(self.names)) if plots else None
        stats = DetectionStats(nc=len(self.names), names=self.names, confusion=confusion)
        loss, n_batches, times = torch.zeros(3), 0, [0.0, 0.0, 0.0]
        keep_preds = final and self.cfg.save_json and self.save_dir is not None
        predictions: list[dict[str, Any]] = []
        for batch in self.loader:
            t0 = time.perf_counter()
            imgs = batch["img"].to(self.device, non_blocking=True).float() / 255
            t1 = time.perf_counter()
            if criterion is not None:
                raw = model.forward_raw(imgs)
                out = model.head.decode(raw)
                loss += criterion(raw, self._targets(batch, imgs))[1].cpu()
            else:
                out = model(imgs)
            t2 = time.perf_counter()
            dets = self._nms(out)
            t3 = time.perf_counter()
            if plots and n_batches < PLOTTED_BATCHES:
                self._plot_batch(batch, dets, n_batches)
            preds, labels = self._to_original_pixels(batch, dets, imgs.shape[2:])
            stats.update(preds, labels)
            if keep_preds:
                predictions += [{"im_file": f, "pred": p} for f, p in zip(batch["im_file"], preds, strict=True)]
            times = [a + b for a, b in zip(times, (t1 - t0, t2 - t1, t3 - t2), strict=True)]
            n_batches += 1
        n_images = max(len(self.loader.dataset), 1)
        metrics = stats.compute()
        metrics.speed = {k: 1000 * t / n_images for k, t in zip(("preprocess", "inference", "postprocess"), times,
                                                                strict=True)}  # fmt: skip
        if final:
            self._report(metrics)
        if plots:
            self._plot_metrics(metrics)
        if keep_preds and self.save_dir is not None:
            from yoloforge.engine.val.coco_eval import save_coco_json

            metrics.coco = save_coco_json(predictions, self.loader.dataset.labels, self.names, self.save_dir)
        model.train(was_training)
        return ValResult(metrics, loss / max(n_batches, 1), predictions)

    def _targets(self, batch: dict[str, Any], imgs: torch.Tensor) -> dict[str, Any]:
        out = {k: batch[k].to(self.device) for k in ("cls", "bboxes", "batch_idx")}
        out["img"] = imgs
        return out

    def _nms(self, out: torch.Tensor) -> list[torch.Tensor]:
        from yoloforge.utils.nms import non_max_suppression

        agnostic = self.cfg.single_cls or self.cfg.agnostic_nms
        # A generous time limit: dropping images from validation under CPU load would silently change the metrics.
        dets = non_max_suppression(out, conf=self.conf, iou=self.cfg.iou, multi_label=True, agnostic=agnostic,
                                   max_det=self.cfg.max_det, time_limit=60.0 + out.shape[0])  # fmt: skip
        if self.cfg.single_cls:  # one class: a car found by a multi-class model is an 'item' found
            for det in dets:
                det[:, 5] = 0
        return dets

    @staticmethod
    def _to_original_pixels(
        batch: dict[str, Any], dets: list[torch.Tensor], shape: torch.Size
    ) -> tuple[list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        """Predictions and labels mapped from the letterboxed input to each original image (as Ultralytics)."""
        from yoloforge.utils.boxes import scale_boxes, xywh2xyxy

        h, w = int(shape[0]), int(shape[1])
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        preds, labels = [], []
        for i, det in enumerate(dets):
            det = det.detach().float().cpu().clone()
            ori, ratio_pad = batch["ori_shape"][i], batch["ratio_pad"][i]
            det[:, :4] = scale_boxes(det[:, :4], (h, w), ori, ratio_pad=ratio_pad, clip=False)  # as Ultralytics
            sel = batch["batch_idx"] == i
            boxes = scale_boxes(xywh2xyxy(batch["bboxes"][sel].float()) * scale, (h, w), ori, ratio_pad=ratio_pad)
            preds.append(det)
            labels.append((batch["cls"][sel].reshape(-1).long(), boxes))
        return preds, labels

    def _plot_batch(self, batch: dict[str, Any], dets: list[torch.Tensor], i: int) -> None:
        """val_batch{i}_labels.jpg and val_batch{i}_pred.jpg, side by side in the run folder."""
        from yoloforge.data.loader import targets as batch_targets
        from yoloforge.utils.plot_batches import plot_image_grid

        targets = batch_targets(batch).numpy()
        folder = self.save_dir
        plot_image_grid(batch["img"], targets, self.names, folder / f"val_batch{i}_labels.jpg", fnames=batch["im_file"])
        preds = [d.detach().float().cpu().numpy() for d in dets]
        plot_image_grid(batch["img"], preds, self.names, folder / f"val_batch{i}_pred.jpg", fnames=batch["im_file"])

    def _plot_metrics(self, metrics: Any) -> None:
        """PR, F1, P and R curves and the confusion matrix (raw and normalised)."""
        from yoloforge.utils.plotting import plot_confusion_matrix, plot_mc_curve, plot_pr_curve

        c, folder = metrics.curves, self.save_dir
        if c is not None:
            plot_pr_curve(c.px, c.pr_curve, c.ap, self.names, folder / "PR_curve.png", classes=c.classes)
            for y, label in ((c.f1_curve, "F1"), (c.p_curve, "Precision"), (c.r_curve, "Recall")):
                plot_mc_curve(c.px, y, self.names, folder / f"{label[0] if label != 'F1' else 'F1'}_curve.png",
                              ylabel=label, classes=c.classes)  # fmt: skip
        if metrics.confusion_matrix is not None:
            m = metrics.confusion_matrix.matrix
            plot_confusion_matrix(m, self.names, folder / "confusion_matrix_normalized.png", normalize=True)
            plot_confusion_matrix(m, self.names, folder / "confusion_matrix.png", normalize=False)

    def _report(self, metrics: Any) -> None:
        """The summary table at the end of training and in val mode."""
        LOGGER.info(metrics.table_str())
        s = metrics.speed
        LOGGER.info("Speed: %.1fms preprocess, %.1fms inference, %.1fms postprocess per image",
                    s["preprocess"], s["inference"], s["postprocess"])  # fmt: skip
