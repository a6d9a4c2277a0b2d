"""The training plots, as callbacks: labels.png at the start, the first train batches, results.png at the end.

A plot that fails is logged and skipped (the callback dispatcher guarantees it never stops training).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from yoloforge.engine.callbacks import Callbacks

TRAIN_BATCHES = 3


def plot_labels_at_start(trainer: Any) -> None:
    from yoloforge.utils.plotting import plot_labels

    labels = trainer.train_loader.dataset.labels
    cls = np.concatenate([lb.cls for lb in labels]) if labels else np.zeros(0)
    boxes = np.concatenate([lb.bboxes for lb in labels]) if labels else np.zeros((0, 4))
    plot_labels(cls, boxes, trainer.data.names, trainer.save_dir / "labels.png")


def plot_first_batches(trainer: Any) -> None:
    if trainer.epoch != trainer.start_epoch or trainer.batch_i >= TRAIN_BATCHES:
        return
    from yoloforge.data.loader import targets as batch_targets
    from yoloforge.utils.plot_batches import plot_image_grid

    b = trainer.batch
    targets = batch_targets(b).numpy()
    plot_image_grid(b["img"], targets, trainer.data.names, trainer.save_dir / f"train_batch{trainer.batch_i}.jpg",
                    fnames=b["im_file"])  # fmt: skip


def plot_results_at_end(trainer: Any) -> None:
    from yoloforge.utils.plotting import plot_results

    csv = trainer.save_dir / "results.csv"
    if csv.exists():
        plot_results(csv)


def add_plot_callbacks(callbacks: Callbacks) -> None:
    """Subscribe the training plots (main process only: the trainer runs callbacks on every rank)."""
    callbacks.add("on_pretrain_routine_end", _main_only(plot_labels_at_start))
    callbacks.add("on_train_batch_end", _main_only(plot_first_batches))
    callbacks.add("on_train_end", _main_only(plot_results_at_end))


class _main_only:  # a class, not a closure, so the callback stays picklable for DDP
    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.__qualname__ = fn.__qualname__

    def __call__(self, trainer: Any) -> None:
        if trainer.ctx.is_main:
            self.fn(trainer)
