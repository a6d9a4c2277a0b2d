"""Writing last.pt, best.pt and epochN.pt at the end of each epoch, atomically."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from yoloforge.engine.seeding import rng_state
from yoloforge.nn.checkpoint import (
    build_checkpoint,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    state_dict_of,
)
from yoloforge.utils.io import atomic_open

if TYPE_CHECKING:
    from yoloforge.engine.train.trainer import Trainer
    from yoloforge.nn.model import DetectionModel


def save_epoch(t: Trainer) -> None:
    """last.pt every epoch (full state, for resume); best.pt when fitness improved; epochN.pt per save_period."""
    if not t.cfg.save:
        return
    common = {
        "args": t.cfg.model_dump(),
        "epoch": t.epoch,
        "best_fitness": t.best_fitness,
        "best_epoch": t.best_epoch,
        "train_metrics": dict(t.metrics),
        "save_dir": str(t.save_dir.resolve()),  # where resume writes, wherever the file is copied (resume.resume_dir)
    }
    full = build_checkpoint(
        t.ema.ema,
        **common,
        ema={"updates": t.ema.updates},
        train_weights=state_dict_of(t.model),
        optimizer=t.optimizer.state_dict(),
        scaler=t.scaler.state_dict() if t.amp else None,
        optimizer_steps=t.optimizer_steps,
        rng=rng_state(),
        stopped_early=t.stopped_early,
    )
    last = save_checkpoint(full, t.wdir / "last.pt")
    if t.best_epoch == t.epoch:
        save_checkpoint(build_checkpoint(t.ema.ema, **common), t.wdir / "best.pt")
    if t.cfg.save_period > 0 and (t.epoch + 1) % t.cfg.save_period == 0:
        _copy_atomic(last, t.wdir / f"epoch{t.epoch + 1}.pt")


def _copy_atomic(src: Path, dst: Path) -> None:
    with src.open("rb") as f, atomic_open(dst) as out:
        shutil.copyfileobj(f, out)


def load_best(path: Path, device: torch.device) -> DetectionModel:
    """The model in best.pt, prepared exactly as val mode prepares it, so the two give the same numbers."""
    from yoloforge.engine.val.mode import inference_copy

    return inference_copy(model_from_checkpoint(load_checkpoint(path)), device)
