"""What the server learns from a local job's run folder, until the streaming client reports it (issue 11).

`sync_metrics` stores each new results.csv row as the model's MetricRow (idempotent: an epoch already stored is
kept), `store_weights` stores weights/last.pt and best.pt as the model's checkpoints when the worker ends.
Both read files on this machine, so they apply to local workers (and to Ray workers on a shared file system).
"""

from __future__ import annotations

import math
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from yoloforge.platform.db import Checkpoint, MetricRow, Model
from yoloforge.platform.services import models
from yoloforge.platform.services.storage import Storage


def sync_metrics(session: Session, model: Model, run_dir: Path) -> int:
    """Store the results.csv rows not stored yet; returns how many epochs were added (not committed)."""
    from yoloforge.engine.train.results_csv import read_rows

    try:
        rows = read_rows(run_dir / "results.csv")
    except (OSError, ValueError):
        return 0  # being rewritten: the next poll reads it
    have = set(session.scalars(select(MetricRow.epoch).where(MetricRow.model_id == model.id)))
    added = 0
    for row in rows:
        epoch = int(row["epoch"])
        if epoch in have:
            continue
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        session.add(MetricRow(model_id=model.id, epoch=epoch, metrics=clean))
        added += 1
    if added:
        session.flush()
    return added


def store_weights(session: Session, storage: Storage, model: Model, run_dir: Path) -> list[str]:
    """Store weights/last.pt and best.pt as the model's `last` and `best` checkpoints when they changed."""
    stored = []
    for kind in ("last", "best"):
        path = run_dir / "weights" / f"{kind}.pt"
        if not path.is_file():
            continue
        old = session.scalar(select(Checkpoint).where(Checkpoint.model_id == model.id, Checkpoint.kind == kind))
        if old is not None and old.size == path.stat().st_size and old.sha256 == _sha256(path):
            continue
        epoch = session.scalar(select(MetricRow.epoch).where(MetricRow.model_id == model.id)
                               .order_by(MetricRow.epoch.desc()).limit(1))  # fmt: skip
        with open(path, "rb") as f:
            models.store_checkpoint(session, storage, model, kind, f, epoch=epoch)
        stored.append(kind)
    return stored


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
