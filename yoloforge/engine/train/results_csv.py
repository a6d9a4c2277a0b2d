"""results.csv: one row per epoch with Ultralytics' column names, rewritten atomically."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from yoloforge.utils.io import atomic_write_text

COLUMNS = (
    "epoch", "time",
    "train/box_loss", "train/cls_loss", "train/dfl_loss",
    "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
    "val/box_loss", "val/cls_loss", "val/dfl_loss",
    "lr/pg0", "lr/pg1", "lr/pg2",
)  # fmt: skip


def read_rows(path: Path) -> list[dict[str, float]]:
    """Rows already written (a resumed run appends to them)."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_rows(path: Path, rows: list[Mapping[str, float]]) -> None:
    """Rewrite the whole file atomically, so a crash never leaves half a row."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k, float("nan"))) for k in COLUMNS})
    atomic_write_text(path, buf.getvalue())


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.6g}"
