"""Writing last.pt, best.pt and epochN.pt, atomically.

last.pt is `Trainer.state_dict()` (state.py): everything an exact resume needs, fp32, each thing once.
best.pt holds only what inference needs: the EMA weights in half precision (as Ultralytics' final files),
the settings and the epoch's metrics; every reader loads it into an fp32 model (`model_from_checkpoint`),
and the end-of-training validation reads best.pt from disk too, so its numbers are those of the file.
epochN.pt (save_period) is a copy of that epoch's last.pt, so a run can be resumed from it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from yoloforge.nn.checkpoint import build_checkpoint, load_checkpoint, model_from_checkpoint, save_checkpoint
from yoloforge.utils.io import atomic_open

if TYPE_CHECKING:
    from yoloforge.engine.train.trainer import Trainer
    from yoloforge.nn.model import DetectionModel


def save_epoch(t: Trainer) -> None:
    """last.pt every epoch (full state, for resume); best.pt when fitness improved; epochN.pt per save_period."""
    if not t.cfg.save:
        return
    last = save_checkpoint(t.state_dict(), t.wdir / "last.pt")
    if t.best_epoch == t.epoch:
        save_checkpoint(inference_checkpoint(t), t.wdir / "best.pt")
    if t.cfg.save_period > 0 and (t.epoch + 1) % t.cfg.save_period == 0:
        _copy_atomic(last, t.wdir / f"epoch{t.epoch + 1}.pt")


def save_stop(t: Trainer) -> Path | None:
    """last.pt holding the position inside the interrupted epoch; None when save=False."""
    if not t.cfg.save:
        return None
    check_finite(t)
    return save_checkpoint(t.state_dict(), t.wdir / "last.pt")


def inference_checkpoint(t: Trainer) -> dict[str, Any]:
    """best.pt: the EMA weights in fp16 plus settings and metrics; no optimizer, no raw weights."""
    ckpt = build_checkpoint(t.ema.ema, args=t.cfg.model_dump(), epoch=t.epoch, best_fitness=t.best_fitness,
                            best_epoch=t.best_epoch, train_metrics=dict(t.metrics))  # fmt: skip
    ckpt["model"]["state_dict"] = {k: _half(v) for k, v in ckpt["model"]["state_dict"].items()}
    return ckpt


def _half(v: torch.Tensor) -> torch.Tensor:
    """fp16 for floating tensors, unless a value lies beyond fp16's range (then it stays fp32)."""
    if not v.is_floating_point():
        return v
    h = v.half()
    return h if torch.isfinite(h).all() else v


def check_finite(t: Trainer) -> None:
    """Refuse to save weights that became NaN or infinite (last.pt keeps the last good state)."""
    from yoloforge.engine.train.step import TrainingError

    states = (*t.ema.ema.state_dict().items(), *t.model.state_dict().items())
    bad = [k for k, v in states if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise TrainingError(
            f"the weights became NaN or infinite at epoch {t.epoch + 1} (e.g. {bad[0]}); nothing was saved "
            f"for this epoch. Try a lower lr0 (now {t.cfg.lr0}) or amp=False; {t.wdir / 'last.pt'} holds "
            "the last good epoch."
        )


def _copy_atomic(src: Path, dst: Path) -> None:
    with src.open("rb") as f, atomic_open(dst) as out:
        shutil.copyfileobj(f, out)


def load_best(path: Path, device: torch.device) -> DetectionModel:
    """The model in best.pt, prepared exactly as val mode prepares it, so the two give the same numbers."""
    from yoloforge.engine.val.mode import inference_copy

    return inference_copy(model_from_checkpoint(load_checkpoint(path)), device)
