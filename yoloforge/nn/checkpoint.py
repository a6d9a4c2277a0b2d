"""yoloforge checkpoints: plain data and tensors only, loadable with `torch.load(weights_only=True)`.

Layout of a checkpoint dict (every value a tensor or plain Python data):
    format, format_version, version, date      what wrote it, and when
    model: {yaml, names, state_dict}          the weights to use for inference (the EMA when training)
    ema: {state_dict, updates} | None         training state, for resume
    optimizer, scaler: state dicts | None
    args: dict                                the resolved run settings
    epoch, best_fitness, ...                  anything else the trainer adds (plain data)
Loading never executes code from the file; a file that asks to is refused and named.
"""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yoloforge.errors import CheckpointError
from yoloforge.nn import foreign
from yoloforge.nn.pickle_scan import pickle_bytes, pickle_globals
from yoloforge.utils.io import atomic_open

if TYPE_CHECKING:
    import torch

    from yoloforge.nn.model import DetectionModel

FORMAT = "yoloforge.checkpoint"
FORMAT_VERSION = 1


def state_dict_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a module's state dict (safe to keep while training goes on)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def build_checkpoint(model: DetectionModel, **fields: Any) -> dict[str, Any]:
    """A checkpoint dict for `model` plus any plain-data `fields` (args, epoch, optimizer, ema ...)."""
    from yoloforge import __version__

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": __version__,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "yaml": dict(model.yaml),
            "names": {int(k): str(v) for k, v in model.names.items()},
            "state_dict": state_dict_of(model),
        },
        **fields,
    }


def save_checkpoint(ckpt: dict[str, Any], path: str | Path) -> Path:
    """Write atomically (temporary file, fsync, rename): a crash never leaves a torn checkpoint."""
    import torch

    path = Path(path)
    with atomic_open(path) as f:
        torch.save(ckpt, f)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a yoloforge checkpoint, or import an Ultralytics one, without running code from the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path.resolve()}")
    try:
        globals_ = pickle_globals(pickle_bytes(path))
    except (ValueError, pickle.UnpicklingError, EOFError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable torch checkpoint: {e}") from None
    if foreign.is_ultralytics(globals_):
        return foreign.load_ultralytics(path, globals_)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        unsafe = sorted(g for g in globals_ if not g.startswith(("torch.", "collections.OrderedDict")))
        raise CheckpointError(
            f"refused to load {path}: it asks to import {', '.join(unsafe) or 'objects'} when loaded, "
            "which could run code. yoloforge checkpoints hold only tensors and plain data."
        ) from None
    except (RuntimeError, EOFError) as e:
        raise CheckpointError(f"{path} is corrupt or truncated: {e}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a yoloforge checkpoint (no 'format: {FORMAT}' entry)")
    missing = [k for k in ("yaml", "names", "state_dict") if k not in ckpt.get("model", {})]
    if missing:
        raise CheckpointError(f"{path} lacks model {', '.join(missing)}")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> DetectionModel:
    """Rebuild the model a checkpoint describes and load its weights exactly."""
    from yoloforge.nn.builder import build_model

    spec = ckpt["model"]
    names = {int(k): str(v) for k, v in spec["names"].items()}
    model = build_model(spec["yaml"], names=names or None)
    result = model.load_state_dict(spec["state_dict"], strict=False)
    bad = [*result.missing_keys, *result.unexpected_keys]
    if bad:
        raise CheckpointError(
            f"checkpoint weights do not fit the model it describes: "
            f"{len(result.missing_keys)} missing, {len(result.unexpected_keys)} unexpected (e.g. {bad[0]})"
        )
    return model.float().eval()
