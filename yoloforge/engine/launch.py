"""Start a training run: pick the run folder, then train in this process or in one process per device."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import torch

from yoloforge.cfg.schema import RunConfig
from yoloforge.engine.callbacks import Callbacks
from yoloforge.engine.devices import select_devices
from yoloforge.engine.distributed import DistContext, launch
from yoloforge.engine.run_dir import run_dir
from yoloforge.engine.train.trainer import Trainer
from yoloforge.errors import ConfigError
from yoloforge.utils.log import LOGGER


def _train_in_process(
    ctx: DistContext,
    cfg: RunConfig,
    save_dir: Path,
    callbacks: Callbacks,
    weights: dict[str, torch.Tensor] | None,
    arch: dict[str, Any] | None,
    resume_ckpt: dict[str, Any] | None,
) -> Any:
    """Train on one device; returns the final validation's metrics object (None if there was none)."""
    from yoloforge.utils.log import api_logging

    api_logging(cfg.verbose and ctx.is_main)  # a spawned process starts with no logging: show rank 0's output
    trainer = Trainer(cfg, save_dir, callbacks=callbacks, ctx=ctx, weights=weights, arch=arch, resume_ckpt=resume_ckpt)
    trainer.fit()
    result = trainer.final_result
    if ctx.distributed and result is not None:
        # A spawned rank hands its result back through a pipe that the parent reads only once every rank has
        # exited: a result larger than the pipe's buffer (64 KiB) would block that rank for good. Without the
        # PR curves and the confusion matrix (their plots are written already) it is a few KiB.
        result = dataclasses.replace(result, curves=None, confusion_matrix=None)
    return result


def _run_callbacks(cfg: RunConfig, user: Callbacks) -> Callbacks:
    """This run's dispatcher: built-in plots first, then the user's subscribers (failures are shared with theirs)."""
    run = Callbacks(failures=user.failures)
    if cfg.plots:
        from yoloforge.engine.train.plot_callbacks import add_plot_callbacks

        add_plot_callbacks(run)
    run.extend(user)
    from yoloforge.integrations import register_loggers

    register_loggers(run)  # after the plots, so loggers can upload them at the end
    return run


def run_training(
    cfg: RunConfig,
    *,
    callbacks: Callbacks | None = None,
    weights: dict[str, torch.Tensor] | None = None,
    arch: dict[str, Any] | None = None,
    resume_ckpt: dict[str, Any] | None = None,
    save_dir: Path | None = None,
) -> tuple[Any, Path]:
    """Train and return (final metrics object, run folder). More than one device means DDP, one process each."""
    if not cfg.data:  # before the run folder exists, so a bad call leaves nothing behind
        raise ConfigError("training needs a dataset: add data=coco8.yaml or data=path/to/data.yaml")
    devices = select_devices(cfg.device)
    save_dir = save_dir or run_dir(cfg, "train")
    callbacks = _run_callbacks(cfg, callbacks or Callbacks())
    if len(devices) == 1:
        ctx = DistContext(device=devices[0])
        return _train_in_process(ctx, cfg, save_dir, callbacks, weights, arch, resume_ckpt), save_dir
    LOGGER.info("Distributed training on %d processes (%s)", len(devices), ", ".join(map(str, devices)))
    fn = functools.partial(_train_in_process, cfg=cfg, save_dir=save_dir, callbacks=callbacks, weights=weights,
                           arch=arch, resume_ckpt=resume_ckpt)  # fmt: skip
    return launch(fn, devices), save_dir
