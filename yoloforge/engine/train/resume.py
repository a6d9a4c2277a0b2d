"""What a training checkpoint holds beyond the model, and how a resumed run gets it all back.

last.pt carries everything needed to continue bit for bit: the raw (non-EMA) weights, the EMA and
its update count, optimizer and grad-scaler state, the epoch, best fitness, early-stopping
counter, RNG states and the original settings. best.pt carries only what inference needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yoloforge.cfg.resolve import resolve
from yoloforge.cfg.schema import RunConfig
from yoloforge.errors import CheckpointError, ConfigError
from yoloforge.utils.log import LOGGER

RESUME_KEYS = ("train_weights", "ema", "optimizer", "epoch", "best_epoch", "rng", "args")  # best_fitness may be None
# Settings a resumed run may change; everything else comes from the checkpoint. `data` points the run at its
# dataset after it moved (Ultralytics accepts it since PR #26175); its classes must stay the same.
RESUME_OVERRIDES = ("device", "batch", "workers", "epochs", "verbose", "plots", "patience", "data")


def check_resumable(ckpt: dict[str, Any], path: str | Path) -> None:
    """Fail naming every piece of training state the checkpoint lacks."""
    missing = [k for k in RESUME_KEYS if ckpt.get(k) is None]
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
    cfg = resolve(("checkpoint", saved), ("resume overrides", {**allowed, "resume": str(path), "model": str(path)})
                  ).config  # fmt: skip
    _check_dataset(ckpt, cfg, path, moved="data" in allowed)
    return cfg


def _check_dataset(ckpt: dict[str, Any], cfg: RunConfig, path: str | Path, moved: bool) -> None:
    """The run's dataset must still be found (else say how to point at it) and, if given anew, have its classes."""
    from yoloforge.data.dataset_yaml import dataset_names
    from yoloforge.data.files import DatasetError

    try:
        names = dataset_names(cfg.data)
    except DatasetError as e:
        if moved:
            raise ConfigError(f"resume: data={cfg.data!r}: {e}") from None
        why = "no longer exists" if not Path(str(cfg.data)).expanduser().exists() else f"cannot be read ({e})"
        raise ConfigError(
            f"resume: the run's dataset {cfg.data} {why}. If it moved, point the run at it: "
            f"yoloforge train resume model={path} data=path/to/data.yaml"
        ) from None
    trained = {int(k): str(v) for k, v in ckpt["model"]["names"].items()}
    if moved and not cfg.single_cls and names != trained:
        raise ConfigError(
            f"resume: data={cfg.data} has classes {list(names.values())[:5]}{'...' if len(names) > 5 else ''} "
            f"({len(names)}) but the run trained {list(trained.values())[:5]}{'...' if len(trained) > 5 else ''} "
            f"({len(trained)}); a resumed run needs the same classes: start a new run with model={path} instead"
        )


def finished(ckpt: dict[str, Any], cfg: RunConfig) -> bool:
    """True when the checkpoint's run completed its epochs, or stopped early and epochs was not raised."""
    if int(ckpt["epoch"]) + 1 >= cfg.epochs:
        return True
    return bool(ckpt.get("stopped_early")) and cfg.epochs == int(ckpt["args"]["epochs"])


def resume_dir(ckpt: dict[str, Any], path: str | Path) -> Path | None:
    """The run folder a resumed run writes to, by one rule (not a guess from where the file happens to sit):

    1. the run folder holding the checkpoint, when it sits in `<run>/weights/` beside that run's args.yaml
       (the run as it is now: also after the folder was moved, renamed or copied whole);
    2. else the run folder recorded in the checkpoint (`save_dir`), when it exists: a last.pt copied out of
       its run (to a backup folder, or downloaded) continues the run it came from;
    3. else None: a new run folder, numbered as usual (results.csv then starts at the resumed epoch).
    """
    path = Path(path).resolve()
    holder = path.parent.parent
    if path.parent.name == "weights" and (holder / "args.yaml").is_file():
        return holder
    recorded = ckpt.get("save_dir")
    if recorded and Path(recorded).is_dir():
        LOGGER.info("resume: %s is not inside a run folder; continuing the run it records: %s", path, recorded)
        return Path(recorded)
    gone = f"the run folder it records ({recorded}) no longer exists" if recorded else "it records no run folder"
    LOGGER.warning("resume: %s is not inside a run folder and %s; continuing in a new run folder (results.csv "
                   "starts at the resumed epoch)", path, gone)  # fmt: skip
    return None
