"""Start a training run: in this process, in one spawned process per device, or in the process group that an
outside launcher (torchrun, a SLURM script) started. The trainer creates the run folder when training starts."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import torch

from yoloforge.cfg.schema import RunConfig
from yoloforge.engine.callbacks import Callbacks
from yoloforge.engine.devices import select_devices
from yoloforge.engine.distributed import DistContext, env_context, launch, process_group
from yoloforge.engine.train.stop import TrainingStopped
from yoloforge.engine.train.trainer import Trainer
from yoloforge.errors import ConfigError
from yoloforge.utils.log import LOGGER


def _train_in_process(
    ctx: DistContext,
    cfg: RunConfig,
    save_dir: Path | None,
    callbacks: Callbacks,
    weights: dict[str, torch.Tensor] | None,
    arch: dict[str, Any] | None,
    resume_ckpt: dict[str, Any] | None,
) -> tuple[Any, Path]:
    """Train on one device; returns (the final validation's metrics object or None, the run folder)."""
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
    return result, trainer.save_dir


def _spawned_rank(ctx: DistContext, **kwargs: Any) -> tuple[Any, Path] | TrainingStopped:
    """A rank yoloforge spawned: a graceful stop is returned to the parent, which raises it there."""
    try:
        return _train_in_process(ctx, **kwargs)
    except TrainingStopped as e:
        return e


def _run_callbacks(cfg: RunConfig, user: Callbacks) -> Callbacks:
    """This run's dispatcher: built-in plots first, then the user's subscribers (failures are shared with theirs)."""
    run = Callbacks(failures=user.failures)
    if cfg.plots:
        from yoloforge.engine.train.plot_callbacks import add_plot_callbacks

        add_plot_callbacks(run)
    run.extend(user)
    from yoloforge.integrations import register_loggers

    register_loggers(run)  # after the plots, so loggers can upload them at the end
    from yoloforge.remote.callback import register_platform

    register_platform(run, cfg)  # streams to a platform when project=OWNER/PROJECT and a key is known
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
    """Train and return (final metrics object, run folder). More than one device means DDP, one process each.

    Started by torchrun (or with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set), this process is one
    rank of that launcher's group and trains as such (read here, when training starts). Raises
    `TrainingStopped` after a graceful stop.
    """
    if not cfg.data:  # before anything else, so a bad call leaves nothing behind
        raise ConfigError("training needs a dataset: add data=coco8.yaml or data=path/to/data.yaml")
    outside = env_context(cfg.device)
    if outside is None or not outside.distributed:
        devices = select_devices(cfg.device)
    callbacks = _run_callbacks(cfg, callbacks or Callbacks())
    kwargs = {"cfg": cfg, "save_dir": save_dir, "callbacks": callbacks, "weights": weights, "arch": arch,
              "resume_ckpt": resume_ckpt}  # fmt: skip
    if outside is not None and outside.distributed:
        if outside.is_main:
            LOGGER.info("Distributed training as rank %d of %d, started by an outside launcher (%s)", outside.rank,
                        outside.world_size, outside.device)  # fmt: skip
        with process_group(outside):
            return _train_in_process(outside, **kwargs)
    if len(devices) == 1:
        return _train_in_process(DistContext(device=devices[0]), **kwargs)
    from yoloforge.data.dataset_yaml import load_dataset_yaml

    load_dataset_yaml(cfg.data)  # download and check once, before any rank starts (ranks then find it ready)
    LOGGER.info("Distributed training on %d processes (%s)", len(devices), ", ".join(map(str, devices)))
    result = launch(functools.partial(_spawned_rank, **kwargs), devices)
    if isinstance(result, TrainingStopped):
        raise result
    return result
