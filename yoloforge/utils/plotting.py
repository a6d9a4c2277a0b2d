"""Charts a training/validation run writes: results.png, PR/F1 curves, confusion matrix, label statistics.

Each function takes plain data (numpy arrays, lists, a csv path), renders with matplotlib's object API
(`Figure` + `FigureCanvasAgg`: no pyplot, so no global state and no backend switching, safe in worker
threads and headless servers) and writes the file atomically, so a dashboard polling the run directory
never reads half a PNG. Degenerate input (no rows, one epoch, NaN, a class without labels, no classes)
gives a readable chart saying so instead of an exception. Matplotlib is imported lazily: importing this
module costs nothing. Image mosaics of batches live in `plot_batches.py`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from yoloforge.metrics.ap import smooth as ap_smooth
from yoloforge.utils.io import atomic_write_bytes

DPI = 160
RESULTS_PANELS = (
    "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)",
    "val/box_loss", "val/cls_loss", "val/dfl_loss", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
)  # fmt: skip
MAX_LEGEND_CLASSES = 20  # more per-class curves than this are drawn as thin grey lines without a legend
MAX_LABELLED_CLASSES = 30  # from this many classes: only used classes named in the confusion matrix, small bars
Names = Mapping[int, str] | Sequence[str] | None


# ---------------------------------------------------------------------------------------------- helpers
def _figure(width: float, height: float) -> Any:
    """A standalone Agg-backed figure with constrained layout (labels never overlap or get cut off)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    """Render to bytes in the format the suffix names (png by default) and write atomically."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    if fmt in ("jpg", "jpeg"):  # matplotlib needs pillow for jpeg; go through OpenCV instead
        import cv2

        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())
        ok, enc = cv2.imencode(".jpg", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise ValueError(f"could not encode {path}")
        data = enc.tobytes()
    else:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=DPI, facecolor="white")
        data = buf.getvalue()
    atomic_write_bytes(path, data)
    return path


def class_names(names: Names, n: int) -> list[str]:
    """`n` display names from a {id: name} dict or a list; missing ids fall back to the number."""
    if isinstance(names, Mapping):
        return [str(names.get(i, i)) for i in range(n)]
    seq = list(names or ())
    return [str(seq[i]) if i < len(seq) else str(i) for i in range(n)]


def _finite_mean(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Mean over finite values only, NaN where there are none (no RuntimeWarning, unlike np.nanmean)."""
    finite = np.isfinite(a)
    total = np.where(finite, a, 0.0).sum(axis=axis)
    count = finite.sum(axis=axis)
    return np.divide(total, count, out=np.full(np.shape(total), np.nan), where=count > 0)


def _no_data(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="0.4")


# ---------------------------------------------------------------------------------------------- results.png
def smooth(y: Sequence[float] | np.ndarray, sigma: float | None = None) -> np.ndarray:
    """NaN-aware Gaussian smoothing for the trend line; edge-normalised so the ends are not pulled to 0.

    sigma defaults to n/30 clipped to 0.5..3 epochs: short runs stay nearly raw, long runs get a clear trend.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    if n < 3:
        return y.copy()
    sigma = sigma or min(3.0, max(0.5, n / 30))
    r = max(1, min(int(3 * sigma), (n - 1) // 2))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    finite = np.isfinite(y)
    num = np.convolve(np.where(finite, y, 0.0), k, mode="same")
    den = np.convolve(finite.astype(float), k, mode="same")
    return np.divide(num, den, out=np.full(n, np.nan), where=den > 1e-9)


def _read_results(csv_path: Path) -> dict[str, np.ndarray]:
    """Columns of results.csv as float arrays; unparsable cells become NaN, padded header names are stripped."""
    with csv_path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header = [h.strip() for h in rows[0]]
    cols: dict[str, list[float]] = {h: [] for h in header}
    for row in rows[1:]:
        if not any(c.strip() for c in row):
            continue
        for h, cell in zip(header, row + [""] * (len(header) - len(row)), strict=False):
            try:
                cols[h].append(float(cell))
            except ValueError:
                cols[h].append(float("nan"))
    return {h: np.asarray(v, dtype=float) for h, v in cols.items()}


def _results_panel(ax: Any, x: np.ndarray, y: np.ndarray | None, title: str, legend: bool) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epoch", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.get_major_formatter().set_useOffset(False)  # "1e-6+1.1269e-1" above a panel reads as noise
    if y is None or not np.isfinite(y).any():
        _no_data(ax, "no data" if y is not None else "column missing")
        return
    ax.plot(x, y, marker="o", markersize=3 if len(y) <= 50 else 0, lw=1.5, color="tab:blue", label="results")
    xs = x[np.isfinite(x)]
    if len(xs) and xs.max() - xs.min() < 2:  # one or two epochs: keep the ticks on whole epochs
        ax.set_xlim(xs.min() - 1, xs.max() + 1)
    if len(y) >= 3:
        ax.plot(x, smooth(y), ls=":", lw=2, color="tab:orange", label="smooth")
    if legend:
        ax.legend(fontsize=7, loc="best")


def plot_results(csv_path: str | Path) -> Path:
    """results.png beside results.csv: one panel per loss/metric column against epoch, raw and smoothed."""
    csv_path = Path(csv_path)
    cols = _read_results(csv_path)
    n = max((len(v) for v in cols.values()), default=0)
    x = cols.get("epoch", np.arange(1, n + 1, dtype=float))
    fig = _figure(15, 6)
    axes = fig.subplots(2, 5).ravel()
    for i, (ax, name) in enumerate(zip(axes, RESULTS_PANELS, strict=True)):
        _results_panel(ax, x, cols.get(name), name, legend=i == 0)
    fig.suptitle(f"Training results ({n} epoch{'s' if n != 1 else ''})", fontsize=12)
    return _save(fig, csv_path.with_name("results.png"))


# ---------------------------------------------------------------------------------------------- curves
def _curve_inputs(px: Any, py: Any) -> tuple[np.ndarray, np.ndarray]:
    """px as (m,), py as (nc, m) even when empty or 1-D (one class)."""
    px = np.asarray(px, dtype=float).ravel()
    py = np.asarray(py, dtype=float)
    if py.size == 0 or px.size == 0:
        return px, np.zeros((0, px.size))
    return px, py.reshape(-1, px.size)


def _class_curves(ax: Any, px: np.ndarray, py: np.ndarray, labels: list[str]) -> None:
    """Per-class lines: coloured with a legend entry when few, thin grey otherwise."""
    few = len(py) <= MAX_LEGEND_CLASSES
    for y, label in zip(py, labels, strict=True):
        if few:
            ax.plot(px, y, lw=1, label=label)
        else:
            ax.plot(px, y, lw=0.6, color="grey", alpha=0.5)


def _curve_axes(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel, fontsize=11)
    ax.set_ylabel(ylabel, fontsize=11)
    ax.set_title(title, fontsize=12)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=9)


def _curve_legend(ax: Any, nc: int) -> None:
    if nc == 0:
        _no_data(ax, "no classes / no detections")
    if nc and nc <= MAX_LEGEND_CLASSES:  # many entries: outside on the right so the curves stay visible
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    elif nc:
        ax.legend(fontsize=9, loc="lower left")


def _row_names(names: Names, n: int, classes: Any) -> list[str]:
    """Names of the curve rows: row i is class i, or class classes[i] when only some classes have rows."""
    if classes is None:
        return class_names(names, n)
    ids = [int(c) for c in np.asarray(classes).ravel()[:n]]
    table = class_names(names, max(ids, default=-1) + 1)
    return [table[c] for c in ids] + [str(i) for i in range(len(ids), n)]


def plot_pr_curve(px: Any, py: Any, ap: Any, names: Names, path: str | Path, *, classes: Any = None) -> Path:
    """Precision-recall per class plus the class mean, labelled with mAP@0.5.

    ap: (nc,) AP50 or (nc, n_iou) with AP50 first; classes: the class id of each row when rows are only the
    classes that have labels (as in metrics.ap.APResult), else row i is class i.
    """
    px, py = _curve_inputs(px, py)
    ap = np.asarray(ap, dtype=float)
    ap = (ap[:, 0] if ap.ndim == 2 else ap.ravel())[: len(py)]
    ap = np.concatenate([ap, np.full(len(py) - len(ap), np.nan)])
    nc = len(py)
    fig = _figure(9 if 0 < nc <= MAX_LEGEND_CLASSES else 7, 6)
    ax = fig.subplots()
    labels = [f"{name} {a:.3f}" for name, a in zip(_row_names(names, nc, classes), ap, strict=True)]
    _class_curves(ax, px, py, labels)
    if nc:
        label = f"all classes mAP@0.5 = {_finite_mean(ap):.3f}"
        ax.plot(px, _finite_mean(py, axis=0), lw=3, color="black", label=label)
    _curve_axes(ax, "Recall", "Precision", "Precision-Recall Curve")
    _curve_legend(ax, nc)
    return _save(fig, path)


def plot_mc_curve(
    px: Any,
    py: Any,
    names: Names,
    path: str | Path,
    xlabel: str = "Confidence",
    ylabel: str = "F1",
    *,
    classes: Any = None,
) -> Path:
    """A metric (F1, P, R) against confidence per class plus the smoothed mean, annotated with its maximum."""
    px, py = _curve_inputs(px, py)
    nc = len(py)
    fig = _figure(9 if 0 < nc <= MAX_LEGEND_CLASSES else 7, 6)
    ax = fig.subplots()
    _class_curves(ax, px, py, _row_names(names, nc, classes))
    if nc:
        mean = ap_smooth(_finite_mean(py, axis=0), 0.1)  # as the metrics pick the conf
        if np.isfinite(mean).any():
            i = int(np.nanargmax(mean))
            label = f"all classes {mean[i]:.2f} at {px[i]:.2f}"
        else:
            label = "all classes n/a"
        ax.plot(px, mean, lw=3, color="black", label=label)
    _curve_axes(ax, xlabel, ylabel, f"{ylabel}-{xlabel} Curve")
    _curve_legend(ax, nc)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------- confusion
def normalize_confusion(matrix: Any) -> np.ndarray:
    """Each column (true class) divided by its total, so it sums to 1; a class with no labels stays all 0."""
    m = np.nan_to_num(np.asarray(matrix, dtype=float))
    total = m.sum(0, keepdims=True)
    return np.divide(m, total, out=np.zeros_like(m), where=total > 0)


def _annotate_cells(ax: Any, data: np.ndarray, vmax: float, normalize: bool, fontsize: float) -> None:
    for (r, c), v in np.ndenumerate(data):
        if np.isfinite(v):
            text = f"{v:.2f}" if normalize else f"{v:.0f}"
            color = "white" if v > 0.5 * vmax else "black"
            ax.text(c, r, text, ha="center", va="center", fontsize=fontsize, color=color)


def plot_confusion_matrix(matrix: Any, names: Names, path: str | Path, normalize: bool = True) -> Path:
    """(nc+1)x(nc+1) matrix, rows predicted, columns true, the last row/column the background; written to `path`."""
    return _save(confusion_figure(matrix, names, normalize), path)


def confusion_figure(matrix: Any, names: Names, normalize: bool = True) -> Any:
    """The matplotlib Figure of `plot_confusion_matrix` (axes "True" across, "Predicted" down)."""
    m = np.nan_to_num(np.asarray(matrix, dtype=float))
    if m.size == 0:
        m = m.reshape(0, 0)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square (nc+1, nc+1), got shape {m.shape}")
    n = len(m)
    data = normalize_confusion(m) if normalize else m
    shown = np.where(data < (0.005 if normalize else 0.5), np.nan, data)  # empty cells blank, not "0.00"
    vmax = 1.0 if normalize else max(1.0, float(data.max(initial=0)))
    side = float(np.clip(0.4 * n + 3.5, 6, 13))
    big = float(np.clip(side * 1.1, 12, 16))  # axis labels and title grow with the figure
    fig = _figure(side * 1.15, side)
    ax = fig.subplots()
    im = ax.imshow(shown if n else np.full((1, 1), np.nan), cmap="Blues", vmin=0, vmax=vmax, interpolation="nearest")
    if not m.sum():
        _no_data(ax, "no labels or predictions")
    cbar = fig.colorbar(im, ax=ax, shrink=0.8)
    cbar.set_label("fraction of true class" if normalize else "count", fontsize=big * 0.8)
    cbar.ax.tick_params(labelsize=big * 0.7)
    _confusion_ticks(ax, shown, n, names, vmax, normalize, side)
    ax.set_xlabel("True", fontsize=big)
    ax.set_ylabel("Predicted", fontsize=big)
    ax.set_title("Confusion Matrix" + (" (normalized per true class)" if normalize else " (counts)"), fontsize=big)
    return fig


def _confusion_ticks(
    ax: Any, shown: np.ndarray, n: int, names: Names, vmax: float, normalize: bool, side: float
) -> None:
    """Class names and cell values when there are few classes. With many (COCO's 80), only the classes that
    occur (a non-empty row or column) are named, so the few filled cells of a small validation can be read;
    when even those are too many, a bare heat map (names would be unreadable)."""
    if n == 0:
        ax.set_xticks([])
        ax.set_yticks([])
        return
    labels = [*class_names(names, n - 1), "background"]
    if n - 1 < MAX_LABELLED_CLASSES:
        cell_pt = side * 0.75 * 72 / n  # approximate cell width in points
        fontsize = float(np.clip(cell_pt / 3.2, 5, 11))
        ax.set_xticks(range(n), labels, rotation=90, fontsize=max(fontsize, 8))
        ax.set_yticks(range(n), labels, fontsize=max(fontsize, 8))
        _annotate_cells(ax, shown, vmax, normalize, fontsize)
        return
    filled = np.isfinite(shown)
    used = [i for i in range(n) if filled[i].any() or filled[:, i].any()]
    if len(used) > MAX_LABELLED_CLASSES:
        used = []
    ax.set_xticks(used, [labels[i] for i in used], rotation=90, fontsize=7)
    ax.set_yticks(used, [labels[i] for i in used], fontsize=7)


# ---------------------------------------------------------------------------------------------- labels
def _class_bars(ax: Any, cls: np.ndarray, names: Names) -> None:
    """Instances per class; every class in `names` gets a bar, even with no labels."""
    nc = max(len(names) if names is not None else 0, int(cls.max()) + 1 if len(cls) else 0)
    counts = np.bincount(cls, minlength=nc) if nc else np.zeros(0, int)
    ax.bar(np.arange(nc), counts, color="tab:blue", width=0.8)
    ax.set_ylabel("instances", fontsize=10)
    ax.set_title(f"Instances per class ({len(cls)} instances, {nc} classes)", fontsize=12)
    ax.grid(axis="y", alpha=0.3)
    ax.set_ylim(0, max(1, int(counts.max(initial=0))) * 1.1)
    if not counts.sum():
        _no_data(ax, "no labels")
    if 0 < nc <= MAX_LABELLED_CLASSES:
        ax.set_xticks(range(nc), class_names(names, nc), rotation=45, ha="right", fontsize=9)
        for i, c in enumerate(counts):
            ax.text(i, c, str(c), ha="center", va="bottom", fontsize=8)
    else:
        ax.set_xticks(range(nc), class_names(names, nc), rotation=90, fontsize=6)
    ax.set_xlim(-0.6, max(nc, 1) - 0.4)


def _hist2d(fig: Any, ax: Any, a: np.ndarray, b: np.ndarray, labels: tuple[str, str], image_y: bool) -> None:
    """Density of normalised values; image_y puts y=0 at the top as in the image.

    Bins grow with the number of boxes (10..50 a side) and a square-root colour scale keeps sparse bins
    visible next to the usual pile-up of small boxes.
    """
    from matplotlib.colors import PowerNorm
    from matplotlib.ticker import MaxNLocator

    bins = int(np.clip(np.sqrt(len(a)), 10, 50))
    h, _, _ = np.histogram2d(a, b, bins=bins, range=[[0, 1], [0, 1]])
    extent = (0, 1, 1, 0) if image_y else (0, 1, 0, 1)
    norm = PowerNorm(0.5, vmin=0, vmax=max(1, h.max()))
    im = ax.imshow(h.T, origin="upper" if image_y else "lower", extent=extent, cmap="Blues", norm=norm)
    cbar = fig.colorbar(im, ax=ax, shrink=0.9)
    cbar.set_label("boxes per bin", fontsize=9)
    cbar.ax.tick_params(labelsize=8)
    cbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(labels[0], fontsize=10)
    ax.set_ylabel(labels[1], fontsize=10)
    ax.tick_params(labelsize=8)
    if len(a) == 0:
        _no_data(ax, "no boxes")


def plot_labels(cls: Any, bboxes_xywhn: Any, names: Names, path: str | Path) -> Path:
    """Label statistics of a split: class balance, where box centres fall, and box sizes (all normalised)."""
    cls = np.asarray(cls, dtype=float).ravel()
    boxes = np.asarray(bboxes_xywhn, dtype=float).reshape(-1, 4)
    keep = np.isfinite(cls) & (cls >= 0)
    cls_ok = cls[keep].astype(int)
    boxes = boxes[np.isfinite(boxes).all(1)]
    fig = _figure(12, 9)
    axd = fig.subplot_mosaic([["bar", "bar"], ["xy", "wh"]], height_ratios=[1, 1.15])
    _class_bars(axd["bar"], cls_ok, names)
    _hist2d(fig, axd["xy"], boxes[:, 0], boxes[:, 1], ("box centre x", "box centre y"), image_y=True)
    axd["xy"].set_title("Box centres (image coordinates)", fontsize=12)
    _hist2d(fig, axd["wh"], boxes[:, 2], boxes[:, 3], ("box width", "box height"), image_y=False)
    axd["wh"].set_title("Box sizes (fraction of image)", fontsize=12)
    return _save(fig, path)


def __getattr__(name: str) -> Any:
    """`plot_image_grid` is importable from here too, without importing OpenCV until it is used."""
    if name == "plot_image_grid":
        from yoloforge.utils.plot_batches import plot_image_grid

        return plot_image_grid
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
