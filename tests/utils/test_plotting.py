"""The run's plots, drawn from real data (coco128 labels and images, real results rows, computed curves)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from yoloforge.data.augment.letterbox import letterbox
from yoloforge.engine.train.results_csv import write_rows
from yoloforge.metrics.ap import smooth as ap_smooth
from yoloforge.utils.plot_batches import plot_image_grid
from yoloforge.utils.plotting import (
    normalize_confusion,
    plot_confusion_matrix,
    plot_labels,
    plot_mc_curve,
    plot_pr_curve,
    plot_results,
    smooth,
)


def _check_image(path: Path, min_hw: tuple[int, int], max_hw: tuple[int, int], min_std: float = 10.0) -> np.ndarray:
    """The file exists, decodes, has a sensible size and is not a blank canvas."""
    assert path.is_file(), path
    assert not list(path.parent.glob(f".{path.name}.*.tmp")), "atomic write left a temporary file"
    img = cv2.imread(str(path))
    assert img is not None, f"{path} does not decode"
    h, w = img.shape[:2]
    assert min_hw[0] <= h <= max_hw[0] and min_hw[1] <= w <= max_hw[1], (h, w)
    assert img.std() > min_std, f"{path} looks blank (std {img.std():.1f})"
    return img


@pytest.fixture(scope="module")
def coco_names(coco128_dir: Path) -> dict[int, str]:
    return yaml.safe_load((coco128_dir / "coco128.yaml").read_text())["names"]


def _read_labels(txt: Path) -> np.ndarray:
    rows = [list(map(float, line.split())) for line in txt.read_text().splitlines() if line.strip()]
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


# ---------------------------------------------------------------------------------------------- results.png
def _results_rows(n: int) -> list[dict[str, float]]:
    """Plausible training curves: losses decaying, metrics rising."""
    rows = []
    for e in range(1, n + 1):
        d = math.exp(-e / 3)
        rows.append(
            {"epoch": e, "time": 12.5 * e, "train/box_loss": 1.2 + d, "train/cls_loss": 1.0 + 2 * d,
             "train/dfl_loss": 1.1 + 0.5 * d, "metrics/precision(B)": 0.6 - 0.4 * d, "metrics/recall(B)": 0.5 - 0.3 * d,
             "metrics/mAP50(B)": 0.55 - 0.4 * d, "metrics/mAP50-95(B)": 0.38 - 0.3 * d, "val/box_loss": 1.3 + d,
             "val/cls_loss": 1.2 + 1.5 * d, "val/dfl_loss": 1.2 + 0.4 * d,
             "lr/pg0": 0.01, "lr/pg1": 0.01, "lr/pg2": 0.01}
        )  # fmt: skip
    return rows


def test_plot_results_five_epochs_with_nan(tmp_path: Path) -> None:
    rows = _results_rows(5)
    rows[2]["val/cls_loss"] = float("nan")  # e.g. a validation that produced no loss
    csv_path = tmp_path / "results.csv"
    write_rows(csv_path, rows)
    out = plot_results(csv_path)
    assert out == tmp_path / "results.png"
    _check_image(out, (700, 1800), (1300, 3000))


def test_plot_results_degenerate(tmp_path: Path) -> None:
    write_rows(tmp_path / "one" / "results.csv", _results_rows(1))
    _check_image(plot_results(tmp_path / "one" / "results.csv"), (700, 1800), (1300, 3000))
    write_rows(tmp_path / "none" / "results.csv", [])  # header only: the run died before epoch 1 ended
    _check_image(plot_results(tmp_path / "none" / "results.csv"), (700, 1800), (1300, 3000))


def test_smoothers_keep_level_and_bridge_nan() -> None:
    y = np.array([1.0, 1.0, np.nan, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(smooth(y), 1.0)
    assert smooth([3.0]).tolist() == [3.0]
    np.testing.assert_allclose(ap_smooth(np.r_[np.ones(50), np.nan, np.ones(49)], 0.1), 1.0)
    ramp = np.linspace(0, 1, 1000)
    np.testing.assert_allclose(ap_smooth(ramp, 0.1)[100:-100], ramp[100:-100], atol=1e-9)  # linear stays linear


# ---------------------------------------------------------------------------------------------- curves
def _curves(rng: np.random.Generator, nc: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PR and F1-confidence curves of nc classes scored by a noisy detector (harder classes score worse)."""
    px = np.linspace(0, 1, 1000)
    pr, f1, ap = np.zeros((nc, 1000)), np.zeros((nc, 1000)), np.zeros(nc)
    for c in range(nc):
        is_tp = rng.random(300) < 0.6
        conf = np.clip(rng.normal(0.35 + 0.4 * is_tp * (c + 1) / nc, 0.15), 0, 1)
        order = np.argsort(-conf)
        is_tp, conf = is_tp[order], conf[order]
        n_gt = is_tp.sum() + 20  # some objects never detected
        tpc, fpc = np.cumsum(is_tp), np.cumsum(~is_tp)
        recall, precision = tpc / n_gt, tpc / (tpc + fpc)
        envelope = np.flip(np.maximum.accumulate(np.flip(precision)))
        pr[c] = np.interp(px, recall, envelope, right=0)
        ap[c] = np.sum((pr[c][1:] + pr[c][:-1]) / 2 * np.diff(px))
        p = np.interp(-px, -conf, precision, left=1)
        r = np.interp(-px, -conf, recall, left=0)
        f1[c] = 2 * p * r / (p + r + 1e-16)
    return px, pr, ap, f1


def test_plot_pr_and_f1_curves_few_classes(tmp_path: Path, coco_names: dict[int, str]) -> None:
    px, pr, ap, f1 = _curves(np.random.default_rng(0), 5)
    assert 0.2 < ap.mean() < 0.95
    _check_image(plot_pr_curve(px, pr, ap, coco_names, tmp_path / "PR_curve.png"), (800, 1000), (1100, 1600))
    _check_image(plot_mc_curve(px, f1, coco_names, tmp_path / "F1_curve.png"), (800, 1000), (1100, 1600))
    out = plot_mc_curve(px, f1, coco_names, tmp_path / "P_curve.jpg", ylabel="Precision")
    _check_image(out, (800, 1000), (1100, 1600))


def test_plot_curves_many_classes_and_empty(tmp_path: Path, coco_names: dict[int, str]) -> None:
    px, pr, ap, _ = _curves(np.random.default_rng(1), 80)
    pr[3] = np.nan  # a class whose curve could not be computed
    _check_image(plot_pr_curve(px, pr, ap, coco_names, tmp_path / "PR_many.png"), (800, 900), (1100, 1600))
    empty = np.zeros((0, 1000))
    _check_image(plot_pr_curve(px, empty, np.zeros(0), {}, tmp_path / "PR_empty.png"), (800, 900), (1100, 1600), 3)
    _check_image(plot_mc_curve(px, empty, [], tmp_path / "F1_empty.png"), (800, 900), (1100, 1600), 3)


def test_plot_curves_from_metrics_ap_per_class(tmp_path: Path, coco_names: dict[int, str]) -> None:
    """The arrays the validator will pass: rows are only the classes with labels (here 3, 7 and 15)."""
    from yoloforge.metrics.ap import ap_per_class

    rng = np.random.default_rng(2)
    target_cls = rng.choice([3, 7, 15], 120)
    found = rng.random(120) < 0.8  # 80% of labels detected, with an IoU that decides TP per threshold
    iou = rng.uniform(0.5, 1.0, found.sum())
    tp = np.concatenate([iou[:, None] >= np.linspace(0.5, 0.95, 10), np.zeros((40, 10), bool)])
    pred_cls = np.concatenate([target_cls[found], rng.choice([3, 7, 15], 40)])  # plus 40 false positives
    conf = np.clip(rng.normal(0.4 + 0.3 * tp[:, 0], 0.15), 0.001, 1)
    res = ap_per_class(tp, conf, pred_cls, target_cls)
    assert res.classes.tolist() == [3, 7, 15]
    # the F1 plot annotates the maximum of the mean F1 smoothed as the metrics smooth it to pick the reported conf
    assert res.px[np.nanargmax(ap_smooth(res.f1_curve.mean(0), 0.1))] == pytest.approx(res.conf_threshold)
    out = plot_pr_curve(res.px, res.pr_curve, res.ap, coco_names, tmp_path / "PR_curve.png", classes=res.classes)
    _check_image(out, (800, 1000), (1100, 1600))
    out = plot_mc_curve(res.px, res.f1_curve, coco_names, tmp_path / "F1_curve.png", classes=res.classes)
    _check_image(out, (800, 1000), (1100, 1600))


# ---------------------------------------------------------------------------------------------- confusion
def _confusion_from_labels(coco128_dir: Path, keep: list[int], rng: np.random.Generator) -> np.ndarray:
    """[pred, true] counts for coco128 labels of `keep` classes seen by a detector that errs sometimes."""
    nc = len(keep)
    m = np.zeros((nc + 1, nc + 1))
    for txt in sorted((coco128_dir / "labels" / "train2017").glob("*.txt")):
        for c in _read_labels(txt)[:, 0].astype(int):
            if c not in keep:
                continue
            t = keep.index(c)
            u = rng.random()
            pred = t if u < 0.75 else nc if u < 0.9 else int(rng.integers(nc))  # right, missed, confused
            m[pred, t] += 1
    m[:nc, nc] += rng.integers(0, 15, nc)  # false positives on background
    return m


def test_plot_confusion_matrix(tmp_path: Path, coco128_dir: Path, coco_names: dict[int, str]) -> None:
    keep = [0, 2, 9, 11, 40, 41, 45, 56]  # person, car, traffic light, stop sign, wine glass, cup, bowl, chair
    keep.append(79)  # toothbrush: its column is emptied below, a class with no labels
    m = _confusion_from_labels(coco128_dir, keep, np.random.default_rng(0))
    m[:, keep.index(keep[-1])] = 0  # make sure that class really has no labels
    norm = normalize_confusion(m)
    sums = norm.sum(0)
    has_labels = m.sum(0) > 0
    np.testing.assert_allclose(sums[has_labels], 1.0)
    np.testing.assert_allclose(sums[~has_labels], 0.0)
    assert (norm >= 0).all() and has_labels[:-2].all()
    names = [coco_names[c] for c in keep]
    for out in (
        plot_confusion_matrix(m, names, tmp_path / "confusion_matrix_normalized.png"),
        plot_confusion_matrix(m, names, tmp_path / "confusion_matrix.png", normalize=False),
    ):
        _check_image(out, (900, 1100), (2200, 2400))
    rng = np.random.default_rng(1)
    big = rng.integers(0, 3, (81, 81)) + np.diag(rng.integers(5, 40, 81))  # 80 classes: a bare heat map
    _check_image(plot_confusion_matrix(big, coco_names, tmp_path / "cm80.png"), (1500, 1500), (2200, 2600))


# ---------------------------------------------------------------------------------------------- labels
def test_plot_labels_coco128(tmp_path: Path, coco128_dir: Path, coco_names: dict[int, str]) -> None:
    labels = np.concatenate([_read_labels(t) for t in sorted((coco128_dir / "labels" / "train2017").glob("*.txt"))])
    assert len(labels) > 900
    out = plot_labels(labels[:, 0], labels[:, 1:], coco_names, tmp_path / "labels.png")
    _check_image(out, (1200, 1600), (1600, 2200))
    few = labels[labels[:, 0] < 5]
    out = plot_labels(few[:, 0], few[:, 1:], {i: coco_names[i] for i in range(6)}, tmp_path / "labels_few.png")
    _check_image(out, (1200, 1600), (1600, 2200))
    _check_image(plot_labels([], np.zeros((0, 4)), None, tmp_path / "labels_empty.png"), (1200, 1600), (1600, 2200), 3)


# ---------------------------------------------------------------------------------------------- image grid
def _letterboxed_batch(coco128_dir: Path, n: int, size: int) -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """n coco128 images letterboxed to size x size as a uint8 RGB BCHW tensor, with their labels moved along."""
    files = sorted((coco128_dir / "images" / "train2017").glob("*.jpg"))[:n]
    imgs, targets = [], []
    for i, f in enumerate(files):
        bgr = cv2.imread(str(f))
        h0, w0 = bgr.shape[:2]
        img, ((rh, rw), (pw, ph)) = letterbox(bgr, size)
        imgs.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB).transpose(2, 0, 1))
        lab = _read_labels(coco128_dir / "labels" / "train2017" / f"{f.stem}.txt")
        xywh = lab[:, 1:] * (w0 * rw, h0 * rh, w0 * rw, h0 * rh) + (pw, ph, 0, 0)
        targets.append(np.column_stack([np.full(len(lab), i), lab[:, 0], xywh / size]))
    return torch.from_numpy(np.stack(imgs)), np.concatenate(targets), [str(f) for f in files]


def test_plot_image_grid_labels_and_predictions(tmp_path: Path, coco128_dir: Path, coco_names: dict[int, str]) -> None:
    images, targets, files = _letterboxed_batch(coco128_dir, 4, 160)
    assert images.shape == (4, 3, 160, 160) and len(targets) > 4
    out = plot_image_grid(images, torch.from_numpy(targets), coco_names, tmp_path / "train_batch0.jpg", fnames=files)
    _check_image(out, (320, 320), (1920, 1920), 20)
    rng = np.random.default_rng(0)
    preds = []  # "predictions": the labels as pixel xyxy with a confidence, a few below the threshold
    for i in range(4):
        t = targets[targets[:, 0] == i]
        xy, wh = t[:, 2:4] * 160, t[:, 4:6] * 160
        preds.append(np.column_stack([xy - wh / 2, xy + wh / 2, rng.uniform(0.1, 1.0, len(t)), t[:, 1]]))
    out = plot_image_grid(images, preds, coco_names, tmp_path / "val_batch0_pred.jpg", fnames=files)
    _check_image(out, (320, 320), (1920, 1920), 20)
    empty = plot_image_grid(images[:0], np.zeros((0, 6)), coco_names, tmp_path / "empty.jpg")
    _check_image(empty, (100, 100), (1920, 1920), 3)
