"""The training loop, in named phases that emit events.

setup -> for each epoch: train -> validate -> record -> save -> (early stop?) -> final validation of best.pt.
Loggers and user code subscribe to the events (see callbacks.py); the loop knows none of them.

A graceful stop (SIGTERM, the first Ctrl-C, `request_stop()`) ends the run after the current batch with a
resumable last.pt that holds the position inside the epoch (stop.py); `state_dict()`/`load_state_dict()`
are the checkpoint's schema (state.py). Under DDP every decision that ends or re-plans the loop is taken
once and shared, so all ranks run the same batches: stop requests are combined after every batch, and
rank 0's time check, early stop and epoch plan are broadcast.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from yoloforge.cfg.schema import RunConfig
from yoloforge.engine import distributed as dist
from yoloforge.engine.callbacks import Callbacks
from yoloforge.engine.distributed import DistContext
from yoloforge.engine.seeding import init_seeds
from yoloforge.engine.train import optim, step
from yoloforge.engine.train.ema import ModelEMA
from yoloforge.engine.train.progress import HEADER, EpochProgress
from yoloforge.engine.train.results_csv import read_rows, write_rows
from yoloforge.engine.train.step import TrainingError as TrainingError  # re-exported: the error users catch
from yoloforge.engine.train.stop import NONE, StopControl, TrainingStopped
from yoloforge.utils.io import atomic_write_text
from yoloforge.utils.log import LOGGER


class Trainer:
    """Trains one model on one dataset with one frozen `RunConfig`.

    `save_dir` is the run folder when it is known (a resumed run); otherwise the folder is picked and created
    when training starts, so a run that fails in setup leaves nothing behind (until then `save_dir` is the
    folder it expects to take).
    """

    def __init__(
        self,
        cfg: RunConfig,
        save_dir: Path | None = None,
        *,
        callbacks: Callbacks | None = None,
        ctx: DistContext | None = None,
        weights: dict[str, torch.Tensor] | None = None,
        arch: dict[str, Any] | None = None,
        resume_ckpt: dict[str, Any] | None = None,
    ) -> None:
        from yoloforge.engine.run_dir import planned_run_dir

        self.cfg = cfg
        self.fixed_dir = save_dir is not None
        self.save_dir = Path(save_dir) if save_dir is not None else planned_run_dir(cfg, "train")
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
        self.stop_control = StopControl(announce=self.ctx.is_main)
        self.stop_reason = NONE
        self.nonfinite = {"loss": 0, "gradient": 0}  # consecutive events of each kind, counted apart
        self.pending = 0  # batches whose gradients wait for the next optimizer step
        self.optimizer_steps = 0
        self.position: dict[str, Any] | None = None  # set when a stop interrupts an epoch
        self.resume_position: dict[str, Any] | None = None  # a checkpoint's position, applied once
        self.loader_rng: torch.Tensor | None = None
        self.resumed_time = 0.0
        self.final_metrics: dict[str, float] = {}
        # plain data callbacks keep with the run: saved in last.pt (`extra`) and restored when it resumes
        self.extra: dict[str, Any] = {}
        self.final_result: Any = None

    # --- the checkpoint's schema, and stopping ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything last.pt holds: the one definition of the training checkpoint (see state.py)."""
        from yoloforge.engine.train.state import trainer_state

        return trainer_state(self)

    def load_state_dict(self, ckpt: dict[str, Any]) -> None:
        """Put a `state_dict()` back into this trainer after its setup built the model and optimizer."""
        from yoloforge.engine.train.state import load_trainer_state

        load_trainer_state(self, ckpt)
        if self.ctx.is_main:
            pos = self.resume_position
            where = f"epoch {self.start_epoch + 1}/{self.epochs}" + (f", batch {pos['batch'] + 1}" if pos else "")
            LOGGER.info("Resuming %s at %s", self.save_dir, where)

    def request_stop(self) -> None:
        """Stop after the current batch and save a resumable last.pt; `fit()` then raises `TrainingStopped`.

        Safe to call from any thread (the platform client calls it from its own) and from callbacks, which
        receive the trainer. Under DDP a request on any rank stops every rank at the same batch.
        """
        self.stop_control.request()

    def elapsed(self) -> float:
        """Seconds of training so far, earlier sessions of a resumed run included."""
        t0 = getattr(self, "t0", None)
        return self.resumed_time if t0 is None else time.perf_counter() - t0

    def set_epochs(self, epochs: int) -> None:
        """Re-plan the run to `epochs` epochs: the loop bound, the LR schedule and close_mosaic follow."""
        if epochs != self.epochs:
            self.epochs = epochs
            self.lf = optim.lr_lambda(self.cfg, epochs)
            self.scheduler.lr_lambdas = [self.lf] * len(self.optimizer.param_groups)

    # --- setup -------------------------------------------------------------------------------------
    def _setup(self) -> None:
        from yoloforge.data.dataset_yaml import describe, load_dataset_yaml
        from yoloforge.engine.train.setup import build_train_model, freeze_layers, warn_ignored_settings
        from yoloforge.loss.detection import DetectionLoss

        cfg, ctx = self.cfg, self.ctx
        init_seeds(cfg.seed + max(ctx.rank, 0), cfg.deterministic)
        self.data = dist.rank_zero_first(ctx, lambda: load_dataset_yaml(cfg.data))  # one download, not one per rank
        self.cfg = cfg = cfg.model_copy(update={"data": self.data.ref})  # recorded absolute: resume from anywhere
        if ctx.is_main:
            LOGGER.info(describe(self.data))
            warn_ignored_settings(cfg)
        if self.resume_ckpt is not None:  # load_state_dict puts the weights back; only the architecture is needed
            self.arch, self.weights = self.resume_ckpt["model"]["yaml"], None
        model = build_train_model(cfg, self.data.names, self.weights, self.arch)
        # channels-last: oneDNN and cuDNN convolve it faster (measured +20% per CPU step at 320 and 640)
        self.model = model.to(self.device, memory_format=torch.channels_last)
        freeze_layers(self.model, cfg.freeze)
        self.batch_size = self._choose_batch()
        self._build_loaders(self.batch_size)
        self._build_optimizer(self.batch_size, len(self.train_loader.dataset))
        self.ema = ModelEMA(self.model)
        self.amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.criterion = DetectionLoss.from_config(self.model, cfg)
        self.train_model = self._wrap_ddp(self.model)
        self.validator = self._build_validator() if ctx.is_main else None
        if self.resume_ckpt is not None:
            self.load_state_dict(self.resume_ckpt)
            self.rows = [r for r in read_rows(self.save_dir / "results.csv") if r["epoch"] <= self.start_epoch]
        self.weights = self.arch = self.resume_ckpt = None  # used once: do not hold them for the whole run
        if cfg.profile and ctx.is_main:
            from yoloforge.engine.train.profile import profile_model

            self.profile = profile_model(self.model, cfg, self.device)
        self._create_run_dir()

    def _choose_batch(self) -> int:
        """The batch size; AutoBatch measures on rank 0 only and every rank uses its answer."""
        from yoloforge.engine.train.autobatch import DEFAULT_FRACTION, auto_batch, resolve_batch

        cfg = self.cfg
        batch = resolve_batch(cfg.batch, self.device)
        self.auto_batch = not (isinstance(cfg.batch, int) and cfg.batch >= 1)
        if batch == -1:
            fraction = cfg.batch if isinstance(cfg.batch, float) else DEFAULT_FRACTION
            batch = auto_batch(self.model, cfg.long_side, self.device, fraction) if self.ctx.is_main else 0
            batch = dist.broadcast_ints([batch], self.ctx)[0]
        return batch

    def _build_loaders(self, batch: int) -> None:
        from yoloforge.engine.train.setup import build_loaders

        ctx = self.ctx
        per_rank = max(batch // ctx.world_size, 1)
        self.train_loader, self.val_loader = dist.rank_zero_first(
            ctx, lambda: build_loaders(self.cfg, self.data, per_rank, ctx.rank, ctx.world_size, ctx.is_main)
        )  # label caches are written once, by the first rank
        self.nb = len(self.train_loader)
        self.accumulate = optim.accumulate_steps(self.cfg.nbs, batch)

    def _create_run_dir(self) -> None:
        """Training starts: rank 0 creates the run folder (numbered now, race-free) and tells the other ranks."""
        from yoloforge.engine.run_dir import run_dir

        if self.ctx.is_main:
            if self.fixed_dir:
                self.save_dir.mkdir(parents=True, exist_ok=True)
            else:
                self.save_dir = run_dir(self.cfg, "train")
            self.wdir = self.save_dir / "weights"
            self.wdir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.save_dir / "args.yaml", yaml.safe_dump(self.cfg.model_dump(), sort_keys=False))
            if self.validator is not None:
                self.validator.save_dir = self.save_dir
        self.save_dir = Path(dist.broadcast_object(str(self.save_dir), self.ctx))
        self.wdir = self.save_dir / "weights"

    def _build_optimizer(self, batch: int, n_images: int) -> None:
        from yoloforge.engine.train.setup import planned_iterations

        cfg = self.cfg
        iterations = planned_iterations(n_images, batch, cfg.nbs, self.epochs)
        choice = optim.choose_optimizer(cfg, self.model.nc, iterations)
        if self.ctx.is_main:
            LOGGER.info("optimizer=%s chose %s(lr=%g, momentum=%g): %s", cfg.optimizer, choice.name, choice.lr,
                        choice.momentum, choice.reason)  # fmt: skip
        # Ultralytics' rule: when 'auto' picks an Adam-family optimizer, biases start warmup at 0.
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

    # --- the loop ----------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Run the whole training; returns the final validation metrics of best.pt.

        Raises `TrainingStopped` after a graceful stop (the run is resumable), KeyboardInterrupt on a second
        Ctrl-C. SIGTERM/SIGINT handlers are installed only while this runs, and only in the main thread.
        """
        with self.stop_control.signals_installed():
            return self._fit()

    def _fit(self) -> dict[str, float]:
        self.callbacks.run("on_pretrain_routine_start", self)
        self._setup()
        if self._stop_requested():  # a signal during setup: nothing trained in this session, nothing new to save
            self._stop_now("the start, before the first batch", saved=True)
        self.callbacks.run("on_pretrain_routine_end", self)
        self.t0 = time.perf_counter() - self.resumed_time
        self.callbacks.run("on_train_start", self)
        if self.ctx.is_main:
            LOGGER.info("Training for %d epoch%s; results in %s. Early stopping: patience=%d, an epoch whose "
                        "fitness equals the best counts as an improvement.", self.epochs, _s(self.epochs),
                        self.save_dir, self.cfg.patience)  # fmt: skip
        try:
            epoch = self.start_epoch
            while epoch < self.epochs:  # `time=` may re-plan self.epochs at each epoch's end
                self.epoch = epoch
                self.callbacks.run("on_train_epoch_start", self)
                self._train_epoch_guarded()
                if self.position is not None:
                    self._stop_now(f"epoch {epoch + 1}/{self.epochs}, after batch {self.position['batch']}/{self.nb}")
                self.callbacks.run("on_train_epoch_end", self)
                self._end_epoch()
                self.callbacks.run("on_fit_epoch_end", self)
                if self._sync_epoch_end():
                    break
                epoch += 1
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
        self.optimizer.zero_grad(set_to_none=True)
        self.pending = 0
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        new = max(self.batch_size // 2, 1)
        LOGGER.warning("Out of memory with batch=%d in epoch %d; AutoBatch retries the epoch with batch=%d",
                       self.batch_size, self.epoch + 1, new)  # fmt: skip
        self.batch_size = new
        self._build_loaders(new)
        if self.validator is not None:
            self.validator.loader = self.val_loader

    def _train_epoch(self) -> None:
        from yoloforge.engine.train.state import position_state, restore_position

        cfg, epoch = self.cfg, self.epoch
        self.train_model.train()
        if cfg.close_mosaic and epoch >= self.epochs - cfg.close_mosaic:
            if epoch == self.epochs - cfg.close_mosaic and self.ctx.is_main:
                LOGGER.info("Closing mosaic, mixup and cutmix for the last %d epochs", cfg.close_mosaic)
            self.train_loader.close_mosaic()
        n_warmup = optim.warmup_iterations(cfg, self.nb)
        start, last_step, tloss = 0, epoch * self.nb - 1, torch.zeros(3)
        if self.resume_position is not None:  # continue an epoch a stop interrupted, pending gradients included
            start, last_step, tloss = restore_position(self, self.resume_position)
            self.resume_position = None
        else:
            self.optimizer.zero_grad(set_to_none=True)
        self.train_loader.set_epoch(epoch, start_batch=start)
        self.loader_rng = self.train_loader.generator.get_state() if self.train_loader.generator else None
        progress = EpochProgress(epoch, self.epochs, self.nb, self.device, enabled=self.ctx.is_main and cfg.verbose)
        if self.ctx.is_main and cfg.verbose and epoch == self.start_epoch:
            LOGGER.info(HEADER)
        for i, batch in enumerate(self.train_loader, start):
            self.batch_i, self.batch = i, batch
            self.callbacks.run("on_train_batch_start", self)
            ni = i + self.nb * epoch
            accumulate = self.accumulate
            if ni <= n_warmup:
                accumulate = max(1, int(np.interp(ni, (0, n_warmup), (1, cfg.nbs / self.batch_size)).round()))
                optim.apply_warmup(self.optimizer, cfg, ni, n_warmup, self.lf(epoch), self.bias_lr)
            items = step.train_step(self, batch, i)
            if items is not None:
                tloss = (tloss * i + items) / (i + 1)
            if (ni - last_step >= accumulate or i == self.nb - 1) and self.pending:
                step.optimizer_step(self)
                last_step = ni
            self.tloss = tloss
            progress.update(i, tloss, int(batch["cls"].shape[0]), int(batch["img"].shape[-1]))
            self.callbacks.run("on_train_batch_end", self)
            self.stop_reason, time_up = self._sync_batch()
            if self.stop_reason != NONE:
                self.position = position_state(self, i + 1, last_step, tloss)
                break
            if time_up:
                self.stop = True  # the run's time is up: this epoch is the last
                break
        progress.close()
        self.lr = {f"lr/pg{j}": g["lr"] for j, g in enumerate(self.optimizer.param_groups)}

    def _sync_batch(self) -> tuple[int, bool]:
        """(stop request, time is up), the same on every rank: any rank's request counts, rank 0 keeps time.

        One all-reduce of two integers per batch under DDP (the loss is already copied to the CPU each batch,
        so it adds no extra wait for the GPU); nothing at all in a single process.
        """
        up = self.ctx.is_main and self.cfg.time is not None and self.elapsed() > self.cfg.time * 3600
        reason, up_all = dist.max_ints([self.stop_control.reason, int(up)], self.ctx)
        return reason, bool(up_all)

    # --- end of epoch ------------------------------------------------------------------------------
    def _end_epoch(self) -> None:
        """Validate, re-plan for `time=`, decide early stopping (rank 0; shared with every rank), step the LR
        schedule for the next epoch (after the re-plan, as Ultralytics orders it), then record and save."""
        if self.ctx.is_main:
            validated = self.cfg.val or self._last_epoch()
            if validated:
                self._validate()
            if self.cfg.time is not None:
                self._fit_epochs_to_time()
            if not validated and self._last_epoch():  # the re-plan made this epoch the last
                self._validate()
            if self._early_stop():
                self.stop = self.stopped_early = True
        stop, epochs = dist.broadcast_ints([int(self.stop), self.epochs], self.ctx)
        self.stop = bool(stop)
        self.set_epochs(epochs)
        with warnings.catch_warnings():  # a resumed epoch whose batches were all done before a stop steps no optimizer
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            self.scheduler.step()
        if self.ctx.is_main:
            self._record()
            self._save()

    def _last_epoch(self) -> bool:
        return self.epoch + 1 >= self.epochs or self.stop

    def _sync_epoch_end(self) -> bool:
        """True ends the loop (early stop, time up, or the plan's last epoch). A stop requested on any rank during
        validation or saving stops here, with the last.pt just written at the epoch's end."""
        if self._stop_requested() and not self._last_epoch():
            self._stop_now(f"the end of epoch {self.epoch + 1}/{self.epochs}", saved=True)
        return self.stop

    def _stop_requested(self) -> bool:
        """Whether any rank was asked to stop (outside the batch loop, which checks after every batch)."""
        self.stop_reason = dist.max_ints([self.stop_control.reason], self.ctx)[0]
        return self.stop_reason != NONE

    def _fit_epochs_to_time(self) -> None:
        """Re-plan the number of epochs so the run ends at `time` hours (as Ultralytics does), from the mean epoch
        time so far; the loop bound, LR schedule and close_mosaic follow the new plan (a shorter plan never ends
        before the epoch in progress)."""
        per_epoch = self.elapsed() / (self.epoch + 1)
        self.set_epochs(max(math.ceil(self.cfg.time * 3600 / per_epoch), self.epoch + 1))

    def _validate(self) -> None:
        result = self.validator(self.ema.ema, criterion=self.criterion)
        self.metrics = {**result.metrics.results_dict, **result.loss_dict}
        self.fitness = float(result.metrics.fitness)
        if self.best_fitness is None or self.fitness >= self.best_fitness:
            self.best_fitness, self.best_epoch = self.fitness, self.epoch
        if self.cfg.verbose:  # the 'all' row of the class table, after every validation (as Ultralytics prints)
            LOGGER.info("\n".join(result.metrics.table_str().splitlines()[:2]))

    def _record(self) -> None:
        row = {"epoch": self.epoch + 1, "time": round(self.elapsed(), 3)}
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
        from yoloforge.engine.train.saving import check_finite, save_epoch

        check_finite(self)
        save_epoch(self)
        self.callbacks.run("on_model_save", self)

    def _stop_now(self, where: str, saved: bool = False) -> None:
        """Save the position (unless the epoch's end just did), say how to resume, raise TrainingStopped."""
        from yoloforge.engine.train.saving import save_stop

        ckpt = None
        if self.ctx.is_main:
            ckpt = self.wdir / "last.pt" if saved else save_stop(self)
            if ckpt is not None and not saved:
                self.callbacks.run("on_model_save", self)
        dist.barrier(self.ctx)  # no rank leaves before last.pt is written
        ckpt = ckpt.resolve() if ckpt is not None and ckpt.is_file() else None
        stopped = TrainingStopped(self.stop_reason, ckpt, self.save_dir.resolve() if self.ctx.is_main else None, where)
        if self.ctx.is_main:
            why = "save=False" if not self.cfg.save else "no epoch or batch of this run was saved yet"
            LOGGER.warning("%s", stopped if ckpt else f"{stopped}; nothing to resume from ({why})")
        raise stopped

    def _final_validation(self) -> None:
        from yoloforge.engine.train.saving import load_best

        best = self.wdir / "best.pt"
        model = load_best(best, self.device) if best.exists() else self.ema.ema
        result = self.validator(model, criterion=None, final=True)
        self.final_metrics = dict(result.metrics.results_dict)
        self.final_result = result.metrics  # the object val() returns: what YOLO.train() hands back
        n = self.epoch - self.start_epoch + 1
        LOGGER.info("%d epoch%s completed in %.3f hours.", n, _s(n), self.elapsed() / 3600)
        LOGGER.info("Results saved to %s (weights: %s)", self.save_dir, best if best.exists() else "none")


def _s(n: int) -> str:
    """The plural ending: '1 epoch', '2 epochs'."""
    return "" if n == 1 else "s"
