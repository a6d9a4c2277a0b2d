"""Experiment loggers (TensorBoard, MLflow, Comet, ClearML, W&B) as subscribers to the trainer's events.

A logger runs when its user setting is on (`yoloforge settings mlflow=true`, or YOLOFORGE_MLFLOW=1) and
its package can be imported (`pip install 'yoloforge[loggers]'`); otherwise it is skipped with one info
line. Nothing is imported here: each logger's package loads when its run starts. What each one sends,
and where, is in its module's docstring; the shared rules (names, steps) are in base.py.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from yoloforge.utils.log import LOGGER

if TYPE_CHECKING:
    from yoloforge.cfg.user import UserSettings
    from yoloforge.engine.callbacks import Callbacks
    from yoloforge.integrations.base import RunLogger

# setting name -> (module.Class in this package, importable package it needs, what to pip install)
LOGGERS = {
    "tensorboard": ("tensorboard.TensorBoardLogger", "tensorboard", "tensorboard"),
    "mlflow": ("mlflow.MLflowLogger", "mlflow", "mlflow"),
    "comet": ("comet.CometLogger", "comet_ml", "comet-ml"),
    "clearml": ("clearml.ClearMLLogger", "clearml", "clearml"),
    "wandb": ("wandb.WandbLogger", "wandb", "wandb"),
}


class _Announce:
    """Says once per run which loggers are writing and where (after they started)."""

    def __init__(self, loggers: list[RunLogger]) -> None:
        self.loggers = loggers

    def __call__(self, trainer: Any) -> None:
        if not trainer.ctx.is_main:
            return
        active = [f"{lg.name} ({lg.destination})" for lg in self.loggers if lg.active]
        if active:
            LOGGER.info("Loggers: %s", ", ".join(active))


def _create(name: str) -> RunLogger:
    path, _, _ = LOGGERS[name]
    module_name, cls_name = path.rsplit(".", 1)
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, cls_name)()


def active_names(callbacks: Callbacks) -> list[str] | None:
    """The loggers already registered on `callbacks` (None if none were): registering twice is a no-op."""
    for fn in callbacks.subscribers("on_pretrain_routine_end"):
        if isinstance(fn, _Announce):
            return [lg.name for lg in fn.loggers]
    return None


def register_loggers(callbacks: Callbacks, settings: UserSettings | None = None) -> list[str]:
    """Subscribe every enabled, installed logger to `callbacks`; returns their names."""
    existing = active_names(callbacks)
    if existing is not None:
        return existing
    if settings is None:
        from yoloforge.cfg.user import load_user_settings

        settings = load_user_settings()
    loggers: list[RunLogger] = []
    for name, (_, package, pip_name) in LOGGERS.items():
        if not getattr(settings, name):
            continue
        if importlib.util.find_spec(package) is None:
            LOGGER.info("%s logging is on but '%s' is not installed, so it is skipped (pip install %s, or turn it "
                        "off: yoloforge settings %s=false)", name, package, pip_name, name)  # fmt: skip
            continue
        logger = _create(name)
        logger.register(callbacks)
        loggers.append(logger)
    if loggers:
        callbacks.add("on_pretrain_routine_end", _Announce(loggers))
    return [lg.name for lg in loggers]
