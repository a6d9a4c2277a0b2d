"""What every experiment logger shares: the events it listens to, the numbers it sends, and its guard rails.

A logger starts after the trainer's setup (the run folder and args.yaml exist), sends one row of numbers
per epoch, sends the final metrics, images and files at the end, and closes at teardown (also after a
crash, marking the run failed where the tool can). Only the main process logs. Any failure while
starting switches that logger off with one warning; training always goes on.

Numbers: each epoch's results.csv row, with the same names (`train/box_loss`, `metrics/mAP50-95(B)`,
`val/box_loss`, `lr/pg0`, ...) and step = the row's `epoch` (1-based, so step N is row N of results.csv).
`time` is left out (every tool stamps its own). The final validation of best.pt is sent once as
`final/<name>` with the `metrics/` prefix dropped, e.g. `final/mAP50-95(B)`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from yoloforge.engine.callbacks import Callbacks
from yoloforge.utils.log import LOGGER

TRAIN_LOSSES = ("train/box_loss", "train/cls_loss", "train/dfl_loss")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FILE_SUFFIXES = (".csv", ".yaml")
MAX_IMAGES = 16


def epoch_step(trainer: Any) -> int:
    """The epoch as results.csv numbers it (1-based)."""
    return int(trainer.epoch) + 1


def run_names(trainer: Any, env_var: str | None = None) -> tuple[str, str]:
    """(project, run name): $env_var if set, else the project folder's name or 'yoloforge'; the run folder's name."""
    save_dir = Path(trainer.save_dir)
    project = (os.environ.get(env_var) if env_var else None) or save_dir.parent.name or "yoloforge"
    return project, save_dir.name


def epoch_scalars(trainer: Any) -> dict[str, float]:
    """This epoch's numbers under results.csv names: the recorded row, else rebuilt from the trainer."""
    rows = getattr(trainer, "rows", None) or []
    if rows and int(rows[-1].get("epoch", -1)) == epoch_step(trainer):
        return {k: float(v) for k, v in rows[-1].items() if k not in ("epoch", "time")}
    values = dict(zip(TRAIN_LOSSES, (float(x) for x in trainer.tloss.tolist()), strict=False))
    values.update({k: float(v) for k, v in (getattr(trainer, "metrics", None) or {}).items() if k != "fitness"})
    values.update({k: float(v) for k, v in (getattr(trainer, "lr", None) or {}).items()})
    return values


def final_scalars(trainer: Any) -> dict[str, float]:
    """The final validation of best.pt as final/<name>: a separate series, so it never mixes with the epochs."""
    final = getattr(trainer, "final_metrics", None) or {}
    return {"final/" + k.removeprefix("metrics/"): float(v) for k, v in final.items()}


def run_params(trainer: Any) -> dict[str, Any]:
    """The run's settings as JSON-friendly values (for tools that keep lists and None)."""
    return trainer.cfg.model_dump(mode="json")


def flat_params(trainer: Any) -> dict[str, bool | int | float | str]:
    """The run's settings as scalars only (for tools that accept nothing else): others become text."""
    return {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in run_params(trainer).items()}


def run_images(save_dir: Path) -> list[Path]:
    """The run's plots (train_batch*.jpg, results.png, curves...), at most MAX_IMAGES, in name order."""
    files = sorted(p for p in Path(save_dir).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return files[:MAX_IMAGES]


def run_files(save_dir: Path) -> list[Path]:
    """Small files worth keeping with the run: results.csv, args.yaml."""
    return sorted(p for p in Path(save_dir).iterdir() if p.is_file() and p.suffix.lower() in FILE_SUFFIXES)


def best_weights(trainer: Any) -> Path | None:
    best = Path(trainer.wdir) / "best.pt"
    return best if best.is_file() else None


class RunLogger:
    """One experiment tracker fed by trainer events. Subclasses implement start/log_epoch/finish/close."""

    name = "logger"

    def __init__(self) -> None:
        self.active = False
        self.finished = False
        self.destination = ""

    def register(self, callbacks: Callbacks) -> None:
        callbacks.add("on_pretrain_routine_end", self.on_pretrain_routine_end)
        callbacks.add("on_fit_epoch_end", self.on_fit_epoch_end)
        callbacks.add("on_train_end", self.on_train_end)
        callbacks.add("teardown", self.on_teardown)

    # --- the events -----------------------------------------------------------------------------
    def on_pretrain_routine_end(self, trainer: Any) -> None:
        if not trainer.ctx.is_main:
            return
        self.finished = False
        try:
            self.destination = self.start(trainer)
            self.active = True
        except Exception as e:
            LOGGER.warning("%s logging could not start, training goes on without it: %s: %s", self.name,
                           type(e).__name__, e)  # fmt: skip
            self._close_quietly(trainer)

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if self.active and trainer.ctx.is_main:
            self.log_epoch(trainer, epoch_step(trainer), epoch_scalars(trainer))

    def on_train_end(self, trainer: Any) -> None:
        if self.active and trainer.ctx.is_main:
            self.finished = True
            self.finish(trainer)

    def on_teardown(self, trainer: Any) -> None:
        if self.active:
            self.active = False
            self.close(trainer, failed=not self.finished)

    def _close_quietly(self, trainer: Any) -> None:
        try:
            self.close(trainer, failed=True)
        except Exception as e:
            LOGGER.debug("%s: close after a failed start also failed: %s", self.name, e)

    # --- for subclasses -------------------------------------------------------------------------
    def start(self, trainer: Any) -> str:
        """Open the run and send the settings; return where the output goes (for the 'Loggers:' line)."""
        raise NotImplementedError

    def log_epoch(self, trainer: Any, step: int, scalars: dict[str, float]) -> None:
        raise NotImplementedError

    def finish(self, trainer: Any) -> None:
        """Send the final metrics, images and files (the run succeeded)."""
        raise NotImplementedError

    def close(self, trainer: Any, failed: bool) -> None:
        """Flush and release the tool; `failed` when training ended without on_train_end."""
        raise NotImplementedError
