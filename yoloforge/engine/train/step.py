"""One training step: forward and backward of a batch, and the optimizer step with its guard against
non-finite numbers.

A non-finite loss skips its batch; non-finite gradients skip the optimizer step (and leave the EMA and the
step count alone). The two are counted apart, each reset only by its own finite kind, so a run whose
gradients are never finite ends with a clear error instead of silently skipping every step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from yoloforge.errors import YoloforgeError
from yoloforge.utils.log import LOGGER

if TYPE_CHECKING:
    from yoloforge.engine.train.trainer import Trainer

NONFINITE_LIMIT = 5  # consecutive non-finite losses, or optimizer steps with non-finite gradients, that end a run
AMP_OVERFLOW_LIMIT = 24  # under AMP the grad scaler skips steps while it lowers its scale: 2**16 -> 2**-8
MAX_GRAD_NORM = 10.0


class TrainingError(YoloforgeError, RuntimeError):
    """Training cannot go on (for example the loss stays NaN); the message says what to try."""


def train_step(t: Trainer, batch: dict[str, Any], i: int) -> torch.Tensor | None:
    """Forward and backward of one batch; returns the loss items, or None for a skipped batch."""
    batch = to_device(t, batch)
    if t.cfg.multi_scale:
        from yoloforge.engine.train.multiscale import batch_size_px, resize_batch

        stride = max(int(t.model.stride.max()), 32)
        size = batch_size_px(t.cfg.long_side, stride, t.cfg.seed, t.epoch, i)
        batch["img"] = resize_batch(batch["img"], size, stride)
    with torch.autocast(t.device.type, enabled=t.amp):
        preds = t.train_model(batch["img"])
        loss, items = t.criterion(preds, batch)
    if t.ctx.distributed:
        loss = loss * t.ctx.world_size  # DDP averages gradients; the loss is a sum over images
    if not torch.isfinite(loss):
        count_nonfinite(t, "loss")
        return None
    t.nonfinite["loss"] = 0
    t.scaler.scale(loss).backward()
    t.pending += 1
    return items.detach().cpu()


def to_device(t: Trainer, batch: dict[str, Any]) -> dict[str, Any]:
    out = dict(batch)
    img = batch["img"].to(t.device, non_blocking=True).float() / 255
    out["img"] = img.contiguous(memory_format=torch.channels_last)
    for key in ("cls", "bboxes", "batch_idx"):
        out[key] = batch[key].to(t.device, non_blocking=True)
    return out


def optimizer_step(t: Trainer) -> None:
    """Clip and step; a step whose gradients are not finite is skipped (and counted), the EMA left as it is."""
    t.scaler.unscale_(t.optimizer)
    norm = torch.nn.utils.clip_grad_norm_(t.model.parameters(), max_norm=MAX_GRAD_NORM)
    finite = bool(torch.isfinite(norm))
    if t.amp:
        t.scaler.step(t.optimizer)  # skips the step itself when gradients overflowed
        t.scaler.update()
    elif finite:
        t.optimizer.step()
    t.optimizer.zero_grad(set_to_none=True)
    t.pending = 0
    if not finite:
        count_nonfinite(t, "gradient")
        return
    t.nonfinite["gradient"] = 0
    t.ema.update(t.model)
    t.optimizer_steps += 1


def count_nonfinite(t: Trainer, what: str) -> None:
    """Count a non-finite loss (batch skipped) or gradient (step skipped); too many in a row end the run."""
    t.nonfinite[what] += 1
    n = t.nonfinite[what]
    unit = "batches" if what == "loss" else "optimizer steps"
    limit = AMP_OVERFLOW_LIMIT if what == "gradient" and t.amp else NONFINITE_LIMIT
    if what == "loss" or not t.amp:  # under AMP an overflow now and then is the scaler's normal work
        LOGGER.warning("non-finite %s at epoch %d; %s skipped (%d in a row)", what, t.epoch + 1,
                       "batch" if what == "loss" else "optimizer step", n)  # fmt: skip
    if n >= limit:
        raise TrainingError(
            f"the {what} was NaN or infinite for {n} {unit} in a row at epoch {t.epoch + 1}; "
            f"stopping so no NaN weights are saved. Try a lower lr0 (now {t.cfg.lr0}), amp=False, or check "
            f"the labels. The last good weights are in {t.wdir / 'last.pt'}."
        )
