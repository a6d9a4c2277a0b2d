"""The training checkpoint's schema: what last.pt holds, written and read here and nowhere else.

`Trainer.state_dict()` and `Trainer.load_state_dict()` are these two functions. last.pt holds exactly
what continuing bit for bit needs, each thing once:
    model: {yaml, names, state_dict}   the EMA weights, fp32 (what inference uses; resume needs them exact)
    train_weights                      the raw (non-EMA) weights, fp32
    ema: {updates}                     the EMA's update count (its decay ramps with it)
    optimizer, scaler                  optimizer state (momentum, Adam moments) and AMP grad-scaler state
    args                               the resolved run settings
    save_dir                           the run folder (absolute), so a copied last.pt continues its own run
    epoch                              the last completed epoch, 0-based (-1: none yet)
    epochs                             the planned number of epochs (`time=` re-plans it)
    best_fitness, best_epoch, train_metrics, stopped_early, optimizer_steps, nonfinite, train_time
    rng                                Python, NumPy, torch (and CUDA) generator states
    position                           None at an epoch's end; after a mid-epoch stop, where inside the epoch
                                       it stopped (see `position_state`)
    extra                              plain data subscribers keep with the run (`Trainer.extra`), e.g. the
                                       platform client's model id, so a resumed run continues the same model
best.pt and the other final files hold only the EMA weights in fp16 (saving.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from yoloforge.engine.seeding import rng_state, set_rng_state
from yoloforge.nn.checkpoint import build_checkpoint, state_dict_of
from yoloforge.utils.log import LOGGER

if TYPE_CHECKING:
    from yoloforge.engine.train.trainer import Trainer

# What a checkpoint must hold to be resumed (best_fitness may be None before the first validation).
REQUIRED = ("train_weights", "ema", "optimizer", "epoch", "best_epoch", "rng", "args")


def trainer_state(t: Trainer) -> dict[str, Any]:
    """The full training state of `t` as plain data and CPU tensors (loadable with weights_only=True)."""
    return build_checkpoint(
        t.ema.ema,
        args=t.cfg.model_dump(),
        epoch=t.epoch if t.position is None else t.epoch - 1,
        epochs=t.epochs,
        best_fitness=t.best_fitness,
        best_epoch=t.best_epoch,
        train_metrics=dict(t.metrics),
        stopped_early=t.stopped_early,
        ema={"updates": t.ema.updates},
        train_weights=state_dict_of(t.model),
        optimizer=t.optimizer.state_dict(),
        scaler=t.scaler.state_dict() if t.amp else None,
        optimizer_steps=t.optimizer_steps,
        nonfinite=dict(t.nonfinite),
        train_time=t.elapsed(),
        rng=rng_state(),
        position=t.position,
        save_dir=str(t.save_dir.resolve()),  # where resume writes, wherever the file is copied (resume.resume_dir)
        extra=dict(t.extra),
    )


def position_state(t: Trainer, batches_done: int, last_step: int, tloss: torch.Tensor) -> dict[str, Any]:
    """Where a mid-epoch stop left the epoch: the next batch, the accumulation state and the running losses.

    Gradients accumulated since the last optimizer step are stored (not stepped early), so the resumed run
    takes the same step at the same batch as an unbroken one. `loader_rng` is the loader generator's state at
    the start of the epoch (it seeds the workers when the epoch's iterator is made).
    """
    grads = None
    if t.pending:
        grads = {n: p.grad.detach().cpu().clone() for n, p in t.model.named_parameters() if p.grad is not None}
    return {
        "epoch": t.epoch,
        "batch": batches_done,
        "batch_size": t.train_loader.batch_size,
        "world_size": t.ctx.world_size,
        "last_step": last_step,
        "tloss": tloss.clone(),
        "pending": t.pending,
        "grads": grads,
        "loader_rng": t.loader_rng,
    }


def load_trainer_state(t: Trainer, ckpt: dict[str, Any]) -> None:
    """Put every piece of `trainer_state` back into `t` (built by its setup), so the run continues exactly."""
    t.model.load_state_dict(ckpt["train_weights"])
    t.ema.ema.load_state_dict(ckpt["model"]["state_dict"])
    t.ema.updates = int(ckpt["ema"]["updates"])
    t.optimizer.load_state_dict(ckpt["optimizer"])
    if ckpt.get("scaler") and t.amp:
        t.scaler.load_state_dict(ckpt["scaler"])
    t.start_epoch = int(ckpt["epoch"]) + 1
    if t.cfg.time is not None and ckpt.get("epochs"):
        t.set_epochs(int(ckpt["epochs"]))  # the plan `time=` had made; without `time`, epochs= decides
    t.best_fitness, t.best_epoch = ckpt.get("best_fitness"), int(ckpt["best_epoch"])
    t.metrics = dict(ckpt.get("train_metrics") or {})
    t.optimizer_steps = int(ckpt.get("optimizer_steps", 0))
    t.nonfinite.update(ckpt.get("nonfinite") or {})
    t.resumed_time = float(ckpt.get("train_time") or 0.0)
    t.extra = dict(ckpt.get("extra") or {})
    position = ckpt.get("position")
    if position is not None:
        t.start_epoch = int(position["epoch"])
        t.resume_position = position
    t.scheduler.last_epoch = t.start_epoch
    set_rng_state(ckpt["rng"])


def restore_position(t: Trainer, position: dict[str, Any]) -> tuple[int, int, torch.Tensor]:
    """Apply a mid-epoch position at the start of the resumed epoch; returns (first batch, last_step, tloss).

    With the batch size or the number of processes changed since the stop, the epoch goes on from the first
    batch holding an image not yet seen on this rank (close, not exact, and logged).
    """
    start = int(position["batch"])
    if (position["batch_size"], position["world_size"]) != (t.train_loader.batch_size, t.ctx.world_size):
        seen = start * int(position["batch_size"]) * int(position["world_size"])
        start = seen // (t.train_loader.batch_size * t.ctx.world_size)
        if t.ctx.is_main:
            LOGGER.warning("resume: batch size or process count changed since the stop; continuing epoch %d at "
                           "batch %d (about image %d), not where it stopped exactly", t.epoch + 1, start + 1,
                           seen)  # fmt: skip
    grads = position.get("grads") or {}
    for name, p in t.model.named_parameters():
        if name in grads:
            p.grad = torch.empty_like(p).copy_(grads[name])  # the parameter's memory layout, as backward makes it
    t.pending = int(position["pending"]) if grads else 0
    if position.get("loader_rng") is not None and t.train_loader.generator is not None:
        t.train_loader.generator.set_state(position["loader_rng"])
    return start, int(position["last_step"]), position["tloss"].clone()
