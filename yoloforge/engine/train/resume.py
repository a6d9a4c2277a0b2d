"""How a resumed run is checked and configured: can this checkpoint be resumed, with which settings.

What last.pt holds (the checkpoint's schema) is defined in one place, state.py; best.pt carries only
what inference needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yoloforge.cfg.resolve import resolve
from yoloforge.cfg.schema import RunConfig
from yoloforge.errors import CheckpointError
from yoloforge.utils.log import LOGGER

# Settings a resumed run may change; everything else comes from the checkpoint.
RESUME_OVERRIDES = ("device", "batch", "workers", "epochs", "verbose", "plots", "patience")


def check_resumable(ckpt: dict[str, Any], path: str | Path) -> None:
    """Fail naming every piece of training state the checkpoint lacks."""
    from yoloforge.engine.train.state import REQUIRED

    missing = [k for k in REQUIRED if ckpt.get(k) is None]
    if missing:
        raise CheckpointError(
            f"cannot resume from {path}: it lacks {', '.join(missing)} "
            "(only a last.pt written by yoloforge's trainer can be resumed; start a new run with model=...)"
        )


def resume_config(ckpt: dict[str, Any], path: str | Path, overrides: dict[str, Any]) -> RunConfig:
    """The original settings, with the allowed overrides applied and logged; `epochs` may only grow."""
    saved = dict(ckpt["args"])
    allowed = {}
    for key, value in overrides.items():
        if key in ("resume", "model", "mode", "task"):
            continue
        if key not in RESUME_OVERRIDES:
            LOGGER.warning("resume: ignoring %s=%r (a resumed run keeps its original %s=%r)", key, value, key,
                           saved.get(key))  # fmt: skip
            continue
        if key == "epochs" and value < saved["epochs"]:
            LOGGER.warning("resume: epochs=%s is below the original %s; keeping %s", value, saved["epochs"],
                           saved["epochs"])  # fmt: skip
            continue
        if value != saved.get(key):
            LOGGER.info("resume: %s changed from %r to %r", key, saved.get(key), value)
        allowed[key] = value
    return resolve(("checkpoint", saved), ("resume overrides", {**allowed, "resume": str(path), "model": str(path)})
                   ).config  # fmt: skip


def finished(ckpt: dict[str, Any], cfg: RunConfig) -> bool:
    """True when the checkpoint's run completed its epochs (the plan `time=` made, when it is set), or stopped
    early and epochs was not raised. A checkpoint holding a position inside an epoch is never finished."""
    if ckpt.get("position") is not None:
        return False
    planned = int(ckpt["epochs"]) if cfg.time is not None and ckpt.get("epochs") else cfg.epochs
    if int(ckpt["epoch"]) + 1 >= planned:
        return True
    return bool(ckpt.get("stopped_early")) and cfg.epochs == int(ckpt["args"]["epochs"])
