"""The training loop, in named phases that emit events.

setup -> for each epoch: train -> validate -> record -> save -> (early stop?) -> final validation of best.pt.
Loggers and user code subscribe to the events (see callbacks.py); the loop knows none of them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from yoloforge.cfg.schema import RunConfig
from yoloforge.engine.callbacks import Callbacks
from yoloforge.engine.distributed import DistContext, broadcast_flag
from yoloforge.engine.seeding import init_seeds, set_rng_state
from yoloforge.engine.train import optim
from yoloforge.engine.train.ema import ModelEMA
from yoloforge.engine.train.progress import HEADER, EpochProgress
from yoloforge.engine.train.results_csv import read_rows, write_rows
from yoloforge.errors import YoloforgeError
from yoloforge.utils.io import atomic_write_text
from yoloforge.utils.log import LOGGER

NONFINITE_LIMIT = 5  # consecutive non-finite losses or gradients that end a run
MAX_GRAD_NORM = 10.0
NOT_YET_SUPPORTED = ("multi_scale", "profile")  # accepted by the schema (the incumbent's keys), not acted on


class TrainingError(YoloforgeError, RuntimeError):
    """Training cannot go on (for example the loss stays NaN); the message says what to try."""


class Trainer:
    """Trains one model on one dataset with one frozen `RunConfig`."""

    def __init__(
        self,
        cfg: RunConfig,
        save_dir: Path,
        *,
        callbacks: Callbacks | None = None,
        ctx: DistContext | None = None,
        weights: dict[str, torch.Tensor] | None = None,
        arch: dict[str, Any] | None = None,
        resume_ckpt: dict[str, Any] | None = None,
    ) -> None:
        self.cfg, self.save_dir = cfg, Path(save_dir)
        self.wdir = self.save_dir / "weights"
        self.callbacks = callbacks or Callbacks()
        self.ctx = ctx or DistContext()
        self.device = self.ctx.device
        self.weights, self.arch, self.resume_ckpt = weights, arch, resume_ckpt
        self.epochs, self.start_epoch, self.epoch = cfg.epochs, 0, 0
        self.best_fitness: float | None = None
        self.best_epoch = -1
        self.fitness: float | None = None
        self.metrics: dict[str, float] = {}
        self.rows: list[dict[str, float]] = []
        self.tloss = torch.zeros(3)
        self.stop = self.stopped_early = False
        self.nonfinite = 0
        self.pending = 0  # batches whose gradients wait for the next optimizer step
        self.optimizer_steps = 0
        self.final_metrics: dict[str, float] = {}

    # --- setup -------------------------------------------------------------------------------------
    def _setup(self) -> None:
        from yoloforge.data.dataset_yaml import describe, load_dataset_yaml
        from yoloforge.engine.train.autobatch import DEFAULT_FRACTION, auto_batch, resolve_batch
        from yoloforge.engine.train.setup import build_loaders, build_train_model, freeze_layers
        from yoloforge.loss.detection import DetectionLoss

        cfg, ctx = self.cfg, self.ctx
        init_seeds(cfg.seed + max(ctx.rank, 0), cfg.deterministic)
        self.data = load_dataset_yaml(cfg.data)
        self.cfg = cfg = cfg.model_copy(update={"data": self.data.ref})  # recorded absolute: resume from anywhere
        if ctx.is_main:
            LOGGER.info(describe(self.data))
            for key in NOT_YET_SUPPORTED:
                if getattr(cfg, key):
                    LOGGER.warning("%s=%s is not supported by yoloforge's trainer yet and is ignored", key,
                                   getattr(cfg, key))  # fmt: skip
        # channels-last: oneDNN and cuDNN convolve it faster (measured +20% per CPU step at 320 and 640)
        if self.resume_ckpt is not None:  # _restore puts the weights back; only the architecture is needed here
            self.arch, self.weights = self.resume_ckpt["model"]["yaml"], None
        model = build_train_model(cfg, self.data.names, self.weights, self.arch)
        self.model = model.to(self.device, memory_format=torch.channels_last)
        freeze_layers(self.model, cfg.freeze)
        batch = resolve_batch(cfg.batch, self.device)
        self.auto_batch = not (isinstance(cfg.batch, int) and cfg.batch >= 1)
        if batch == -1:
            fraction = cfg.batch if isinstance(cfg.batch, float) else DEFAULT_FRACTION
            batch = auto_batch(self.model, cfg.long_side, self.device, fraction)
        self.batch_size = batch
        per_rank = max(batch // ctx.world_size, 1)
        self.train_loader, self.val_loader = build_loaders(cfg, self.data, per_rank, ctx.rank, ctx.world_size,
                                                           ctx.is_main)  # fmt: skip
        self.nb = len(self.train_loader)
        self.accumulate = optim.accumulate_steps(cfg.nbs, batch)
        self._build_optimizer(batch, len(self.train_loader.dataset))
        self.ema = ModelEMA(self.model)
        self.amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.criterion = DetectionLoss.from_config(self.model, cfg)
        self.train_model = self._wrap_ddp(self.model)
        self.validator = self._build_validator() if ctx.is_main else None
        if self.resume_ckpt is not None:
            self._restore(self.resume_ckpt)
        self.weights = self.arch = self.resume_ckpt = None  # used once: do not hold them for the whole run
        if ctx.is_main:
            self.wdir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.save_dir / "args.yaml", yaml.safe_dump(cfg.model_dump(), sort_keys=False))

    def _build_optimizer(self, batch: int, n_images: int) -> None:
        from yoloforge.engine.train.setup import planned_iterations

        cfg = self.cfg
        iterations = planned_iterations(n_images, batch, cfg.nbs, self.epochs)
        choice = optim.choose_optimizer(cfg, self.model.nc, iterations)
        if self.ctx.is_main:
            LOGGER.info("optimizer=%s chose %s(lr=%g, momentum=%g): %s", cfg.optimizer, choice.name, choice.lr,
                        choice.momentum, choice.reason)  # fmt: skip
        # The incumbent's rule: when 'auto' picks an Adam-family optimizer, biases start warmup at 0.
        self.bias_lr = 0.0 if cfg.optimizer == "auto" and choice.name != "SGD" else cfg.warmup_bias_lr
        weight_decay = cfg.weight_decay * batch * self.accumulate / cfg.nbs
        self.optimizer = optim.build_optimizer(self.model, choice, weight_decay)
        self.lf = optim.lr_lambda(cfg, self.epochs)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda=self.lf)

    def _wrap_ddp(self, model: torch.nn.Module) -> torch.nn.Module:
        if not self.ctx.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None)

    def _build_validator(self) -> Any:
        from yoloforge.engine.val.validator import Validator

        return Validator(self.val_loader, self.data.names, self.cfg, self.device, save_dir=self.save_dir)

    def _restore(self, ckpt: dict[str, Any]) -> None:
        """Put every piece of saved training state back, so the run continues as if never stopped."""
        self.model.load_state_dict(ckpt["train_weights"])
        self.ema.ema.load_state_dict(ckpt["model"]["state_dict"])
        self.ema.updates = int(ckpt["ema"]["updates"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scaler") and self.amp:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.start_epoch = int(ckpt["epoch"]) + 1
        self.scheduler.last_epoch = self.start_epoch
        self.best_fitness, self.best_epoch = ckpt.get("best_fitness"), int(ckpt["best_epoch"])
        self.optimizer_steps = int(ckpt.get("optimizer_steps", 0))
        self.rows = [r for r in read_rows(self.save_dir / "results.csv") if r["epoch"] <= self.start_epoch]
        set_rng_state(ckpt["rng"])
        if self.ctx.is_main:
            LOGGER.info("Resuming %s from epoch %d of %d", self.save_dir, self.start_epoch + 1, self.epochs)

    # --- the loop ----------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Run the whole training; returns the final validation metrics of best.pt."""
        self.callbacks.run("on_pretrain_routine_start", self)
        self._setup()
        self.callbacks.run("on_pretrain_routine_end", self)
        self.t0 = time.perf_counter()
        self.callbacks.run("on_train_start", self)
        if self.ctx.is_main:
            LOGGER.info("Training for %d epochs; results in %s. Early stopping: patience=%d, an epoch whose "
                        "fitness equals the best counts as an improvement.", self.epochs, self.save_dir,
                        self.cfg.patience)  # fmt: skip
        try:
            for epoch in range(self.start_epoch, self.epochs):
                self.epoch = epoch
                self.callbacks.run("on_train_epoch_start", self)
                self._train_epoch_guarded()
                self.callbacks.run("on_train_epoch_end", self)
                self._end_epoch()
                self.callbacks.run("on_fit_epoch_end", self)
                if broadcast_flag(self.stop, self.ctx):
                    break
            if self.ctx.is_main:
                self._final_validation()
            self.callbacks.run("on_train_end", self)
        finally:
            self.callbacks.run("teardown", self)
        return self.final_metrics

    def _train_epoch_guarded(self) -> None:
        """AutoBatch's safety net: running out of memory in the first epochs halves the batch and redoes the epoch."""
        while True:
            try:
                self._train_epoch()
                return
            except torch.cuda.OutOfMemoryError:
                if not self.auto_batch or self.epoch > self.start_epoch + 1 or self.batch_size <= 1:
                    raise
                self._halve_batch()

    def _halve_batch(self) -> None:
        from yoloforge.engine.train.setup import build_loaders

        self.optimizer.zero_grad(set_to_none=True)
        self.pending = 0
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        new = max(self.batch_size // 2, 1)
        LOGGER.warning("Out of memory with batch=%d in epoch %d; AutoBatch retries the epoch with batch=%d",
                       self.batch_size, self.epoch + 1, new)  # fmt: skip
        self.batch_size = new
        ctx = self.ctx
        self.train_loader, self.val_loader = build_loaders(self.cfg, self.data, max(new // ctx.world_size, 1),
                                                           ctx.rank, ctx.world_size, ctx.is_main)  # fmt: skip
        self.nb = len(self.train_loader)
        self.accumulate = optim.accumulate_steps(self.cfg.nbs, new)
        if self.validator is not None:
            self.validator.loader = self.val_loader

    def _train_epoch(self) -> None:
        cfg, epoch = self.cfg, self.epoch
        self.train_model.train()
        self.train_loader.set_epoch(epoch)
        if cfg.close_mosaic and epoch >= self.epochs - cfg.close_mosaic:
            if epoch == self.epochs - cfg.close_mosaic and self.ctx.is_main:
                LOGGER.info("Closing mosaic, mixup and cutmix for the last %d epochs", cfg.close_mosaic)
            self.train_loader.close_mosaic()
        n_warmup = optim.warmup_iterations(cfg, self.nb)
        last_step = epoch * self.nb - 1
        self.optimizer.zero_grad(set_to_none=True)
        progress = EpochProgress(epoch, self.epochs, self.nb, self.device, enabled=self.ctx.is_main and cfg.verbose)
        if self.ctx.is_main and cfg.verbose and epoch == self.start_epoch:
            LOGGER.info(HEADER)
        tloss = torch.zeros(3)
        for i, batch in enumerate(self.train_loader):
            self.batch_i, self.batch = i, batch
            self.callbacks.run("on_train_batch_start", self)
            ni = i + self.nb * epoch
            accumulate = self.accumulate
            if ni <= n_warmup:
                accumulate = max(1, int(np.interp(ni, (0, n_warmup), (1, cfg.nbs / self.batch_size)).round()))
                optim.apply_warmup(self.optimizer, cfg, ni, n_warmup, self.lf(epoch), self.bias_lr)
            items = self._train_step(batch)
            if items is not None:
                tloss = (tloss * i + items) / (i + 1)
            if (ni - last_step >= accumulate or i == self.nb - 1) and self.pending:
                self._optimizer_step()
                last_step = ni
            self.tloss = tloss
            progress.update(i, tloss, int(batch["cls"].shape[0]), int(batch["img"].shape[-1]))
            self.callbacks.run("on_train_batch_end", self)
            if self._time_is_up():
                break
        progress.close()
        self.lr = {f"lr/pg{j}": g["lr"] for j, g in enumerate(self.optimizer.param_groups)}
        self.scheduler.step()

    def _train_step(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """Forward and backward of one batch; returns the loss items, or None for a skipped batch."""
        batch = self._to_device(batch)
        with torch.autocast(self.device.type, enabled=self.amp):
            preds = self.train_model(batch["img"])
            loss, items = self.criterion(preds, batch)
        if self.ctx.distributed:
            loss = loss * self.ctx.world_size  # DDP averages gradients; the loss is a sum over images
        if not torch.isfinite(loss):
            self._count_nonfinite("loss")
            return None
        self.nonfinite = 0
        self.scaler.scale(loss).backward()
        self.pending += 1
        return items.detach().cpu()

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = dict(batch)
        img = batch["img"].to(self.device, non_blocking=True).float() / 255
        out["img"] = img.contiguous(memory_format=torch.channels_last)
        for key in ("cls", "bboxes", "batch_idx"):
            out[key] = batch[key].to(self.device, non_blocking=True)
        return out

    def _optimizer_step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=MAX_GRAD_NORM)
        if self.amp:
            self.scaler.step(self.optimizer)  # skips the step itself when gradients overflowed
            self.scaler.update()
        elif torch.isfinite(norm):
            self.optimizer.step()
        else:
            self._count_nonfinite("gradient")
        self.optimizer.zero_grad(set_to_none=True)
        self.pending = 0
        self.ema.update(self.model)
        self.optimizer_steps += 1

    def _count_nonfinite(self, what: str) -> None:
        self.nonfinite += 1
        LOGGER.warning("non-finite %s at epoch %d; batch skipped (%d in a row)", what, self.epoch + 1, self.nonfinite)
        if self.nonfinite >= NONFINITE_LIMIT:
            raise TrainingError(
                f"the {what} was NaN or infinite for {self.nonfinite} batches in a row at epoch {self.epoch + 1}; "
                f"stopping so no NaN weights are saved. Try a lower lr0 (now {self.cfg.lr0}), amp=False, or check "
                f"the labels. The last good weights are in {self.wdir / 'last.pt'}."
            )

    def _time_is_up(self) -> bool:
        """With `time=` hours set, stop mid-epoch when it runs out; the epoch is then the last."""
        if self.cfg.time is None:
            return False
        elapsed = time.perf_counter() - self.t0
        if elapsed > self.cfg.time * 3600:
            self.stop = True
            return True
        return False

    # --- end of epoch ------------------------------------------------------------------------------
    def _end_epoch(self) -> None:
        if self.cfg.time is not None:
            self._fit_epochs_to_time()
        if self.ctx.is_main:
            last = self.epoch + 1 >= self.epochs or self.stop
            if self.cfg.val or last:
                self._validate()
            if self._early_stop():
                self.stop = self.stopped_early = True
            self._record()
            self._save()

    def _fit_epochs_to_time(self) -> None:
        """Re-plan the number of epochs so the run ends at `time` hours (as the incumbent does)."""
        per_epoch = (time.perf_counter() - self.t0) / (self.epoch - self.start_epoch + 1)
        planned = max(math.ceil(self.cfg.time * 3600 / per_epoch), self.epoch + 1)
        if planned != self.epochs:
            self.epochs = planned
            self.lf = optim.lr_lambda(self.cfg, self.epochs)
            self.scheduler.lr_lambdas = [self.lf] * len(self.optimizer.param_groups)

    def _validate(self) -> None:
        result = self.validator(self.ema.ema, criterion=self.criterion)
        self.metrics = {**result.metrics.results_dict, **result.loss_dict}
        self.fitness = float(result.metrics.fitness)
        if self.best_fitness is None or self.fitness >= self.best_fitness:
            self.best_fitness, self.best_epoch = self.fitness, self.epoch

    def _record(self) -> None:
        row = {"epoch": self.epoch + 1, "time": round(time.perf_counter() - self.t0, 3)}
        row.update(dict(zip(("train/box_loss", "train/cls_loss", "train/dfl_loss"), self.tloss.tolist(), strict=True)))
        row.update({k: v for k, v in self.metrics.items() if k != "fitness"})
        row.update(self.lr)
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        write_rows(self.save_dir / "results.csv", self.rows)

    def _early_stop(self) -> bool:
        if self.cfg.patience and self.best_epoch >= 0 and self.epoch - self.best_epoch >= self.cfg.patience:
            LOGGER.info("Stopping early: no improvement in the last %d epochs; best was epoch %d (fitness %.5f)",
                        self.cfg.patience, self.best_epoch + 1, self.best_fitness)  # fmt: skip
            return True
        return False

    def _save(self) -> None:
        from yoloforge.engine.train.saving import save_epoch

        states = (*self.ema.ema.state_dict().items(), *self.model.state_dict().items())
        bad = [k for k, v in states if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise TrainingError(
                f"the weights became NaN or infinite at epoch {self.epoch + 1} (e.g. {bad[0]}); nothing was saved "
                f"for this epoch. Try a lower lr0 (now {self.cfg.lr0}) or amp=False; {self.wdir / 'last.pt'} holds "
                "the last good epoch."
            )
        save_epoch(self)
        self.callbacks.run("on_model_save", self)

    def _final_validation(self) -> None:
        from yoloforge.engine.train.saving import load_best

        best = self.wdir / "best.pt"
        model = load_best(best, self.device) if best.exists() else self.ema.ema
        result = self.validator(model, criterion=None, final=True)
        self.final_metrics = dict(result.metrics.results_dict)
        LOGGER.info("%d epochs completed in %.3f hours.", self.epoch - self.start_epoch + 1,
                    (time.perf_counter() - self.t0) / 3600)  # fmt: skip
        LOGGER.info("Results saved to %s (weights: %s)", self.save_dir, best if best.exists() else "none")
