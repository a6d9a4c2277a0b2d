"""Import checkpoints written by Ultralytics 8.x (YOLOv8, YOLO11 detection) without running their code.

Their `.pt` pickles whole model objects. We load it with torch's `weights_only=True` unpickler and
map each of their class names to an inert stand-in (`_Inert`) that only stores its attributes, so
no code of theirs is imported or executed. Then we walk the stand-ins' `_parameters`, `_buffers` and
`_modules` to get a plain state dict, and return it in yoloforge's checkpoint layout.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from yoloforge.errors import CheckpointError

# Prefixes of the class names we accept as inert module stand-ins.
_MODULE_PREFIXES = ("ultralytics.nn.", "torch.nn.modules.")
_ULTRALYTICS_PREFIX = "ultralytics."
_TORCH_OK = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.Size",
    "__builtin__.set",
    "builtins.set",
}
_HEADS_WE_SUPPORT = {"Detect"}


class _Inert:
    """Holds the pickled attributes of one of their objects; has no behaviour."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def is_ultralytics(globals_: set[str]) -> bool:
    """True when a pickle's globals come from an Ultralytics checkpoint."""
    return any(g.startswith(_ULTRALYTICS_PREFIX) for g in globals_)


def _stand_ins(globals_: set[str], path: Path) -> list[tuple[type, str]]:
    """One inert class per module class the pickle names; anything else is refused."""
    pairs: list[tuple[type, str]] = []
    for g in sorted(globals_):
        if g.startswith(_MODULE_PREFIXES):
            pairs.append((type(g.rsplit(".", 1)[1], (_Inert,), {}), g))
        elif g.startswith("torch.") and g.endswith("Storage"):
            continue  # storages are handled by torch's own loader
        elif g not in _TORCH_OK:
            raise CheckpointError(
                f"refused to import {path}: it refers to '{g}', which is not part of a model "
                "checkpoint and could run code. Re-save the model's weights with the tool that made it."
            )
    return pairs


def _state_dict(obj: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Flatten a tree of stand-ins into 'model.0.conv.weight' -> float32 tensor."""

    out = {} if out is None else out
    d = obj.__dict__
    skip = d.get("_non_persistent_buffers_set") or set()
    for name, t in list(d.get("_parameters", {}).items()) + list(d.get("_buffers", {}).items()):
        if t is not None and name not in skip:
            out[prefix + name] = t.detach().float() if t.is_floating_point() else t.detach().clone()
    for name, child in d.get("_modules", {}).items():
        if child is not None:
            if not isinstance(child, _Inert):
                raise CheckpointError(f"unexpected object of type {type(child).__name__} at {prefix}{name}")
            _state_dict(child, f"{prefix}{name}.", out)
    return out


def _plain(value: Any) -> Any:
    """Keep only plain data (str, numbers, bools, None, lists, dicts) from their metadata."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if isinstance(k, str | int)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value == "None":  # their YAMLs write Upsample's size as the string None
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _mark_head_style(yaml_dict: dict[str, Any], state: dict[str, Any], head_index: int) -> None:
    """Tell our builder which class branch the head has: YOLO11's depthwise one nests one level deeper."""
    depthwise = any(k.startswith(f"model.{head_index}.cv3.0.0.0.") for k in state)
    row = yaml_dict["head"][-1]
    args = [a for a in row[3] if not isinstance(a, dict)]
    row[3] = [*args, {"dw_cls": depthwise}]


def load_ultralytics(path: str | Path, globals_: set[str]) -> dict[str, Any]:
    """Read an Ultralytics detection checkpoint into yoloforge's checkpoint dict layout."""
    import torch

    path = Path(path)
    pairs = _stand_ins(globals_, path)
    try:
        with torch.serialization.safe_globals([*pairs, set]):
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"could not read {path} as an Ultralytics checkpoint: {e}") from None
    model = (raw.get("ema") or raw.get("model")) if isinstance(raw, dict) else None
    if not isinstance(model, _Inert):
        raise CheckpointError(f"{path} has no model object under 'model' or 'ema'")
    attrs = model.__dict__
    if type(model).__name__ != "DetectionModel":
        raise CheckpointError(f"{path} holds a {type(model).__name__}; yoloforge imports detection models only")
    layers = list(attrs["_modules"]["model"].__dict__["_modules"].values())
    head = type(layers[-1]).__name__
    if head not in _HEADS_WE_SUPPORT:
        raise CheckpointError(f"{path} ends in a '{head}' head; yoloforge imports Detect heads only")
    yaml_dict = _plain(attrs.get("yaml") or {})
    names = {int(k): str(v) for k, v in (attrs.get("names") or {}).items()}
    yaml_dict["nc"] = len(names) or yaml_dict.get("nc", 80)
    state = _state_dict(model)
    _mark_head_style(yaml_dict, state, len(layers) - 1)
    return {
        "model": {"yaml": yaml_dict, "names": names, "state_dict": state},
        "args": _plain(raw.get("train_args") or {}),
        "epoch": raw.get("epoch", -1) if isinstance(raw.get("epoch"), int) else -1,
        "best_fitness": raw.get("best_fitness") if isinstance(raw.get("best_fitness"), float) else None,
        "source": {"format": "ultralytics", "version": str(raw.get("version")), "date": str(raw.get("date"))},
    }
