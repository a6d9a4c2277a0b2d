"""The parts a training run is made of: model for the dataset's classes, frozen layers, data loaders."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from yoloforge.cfg.schema import RunConfig
from yoloforge.errors import ConfigError
from yoloforge.nn.model import DetectionModel
from yoloforge.utils.log import LOGGER


def build_train_model(
    cfg: RunConfig,
    names: dict[int, str],
    weights: dict[str, torch.Tensor] | None,
    arch: dict[str, Any] | None = None,
) -> DetectionModel:
    """A model with the dataset's classes; `weights` (or `pretrained=path`) fill matching tensors.

    `arch` is the architecture dict of a model the caller already loaded, so its file is not read again.
    """
    from yoloforge.data.dataset_yaml import run_class_names
    from yoloforge.nn.builder import build_model
    from yoloforge.nn.checkpoint import load_checkpoint

    if cfg.single_cls:
        LOGGER.info("single_cls=True: training one class, 'item', from the dataset's %d classes", len(names))
    names = run_class_names(names, cfg.single_cls)
    source = cfg.model or "yolo11n.yaml"
    if arch is not None:
        model = build_model(arch, names=names)
    elif Path(source).suffix.lower() == ".pt":
        ckpt = load_checkpoint(source)
        model = build_model(ckpt["model"]["yaml"], names=names)
        weights = weights or ckpt["model"]["state_dict"]
    else:
        model = build_model(source, names=names)
    if isinstance(cfg.pretrained, str):
        weights = load_checkpoint(cfg.pretrained)["model"]["state_dict"]
    if weights is not None and cfg.pretrained is not False:
        transfer(model, weights)
    return model


def transfer(
    model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str = "pretrained weights"
) -> tuple[int, int]:
    """Copy tensors whose name and shape match; log and return (copied, total in the model)."""
    ours = model.state_dict()
    fits = {k: v for k, v in weights.items() if k in ours and v.shape == ours[k].shape}
    model.load_state_dict(fits, strict=False)
    LOGGER.info("Transferred %d/%d tensors from %s", len(fits), len(ours), source)
    return len(fits), len(ours)


def freeze_layers(model: DetectionModel, freeze: int | list[int] | None) -> list[str]:
    """Freeze the first N layers (or the listed indices); the DFL projection is always frozen."""
    indices = list(range(freeze)) if isinstance(freeze, int) else list(freeze or [])
    if any(i < 0 or i >= len(model.model) for i in indices):
        raise ConfigError(f"freeze={freeze}: layer indices must be in 0..{len(model.model) - 1}")
    prefixes = tuple(f"model.{i}." for i in indices)
    frozen = []
    for name, p in model.named_parameters():
        if name.startswith(prefixes) or ".dfl." in name:
            p.requires_grad_(False)
            frozen.append(name)
        elif p.is_floating_point() and not p.requires_grad:
            p.requires_grad_(True)
    if indices:
        LOGGER.info("Froze %d tensors in layers %s", len(frozen), indices)
    return frozen


def build_loaders(cfg: RunConfig, data: Any, batch: int, rank: int, world: int, main: bool) -> tuple[Any, Any]:
    """Train loader (sharded over ranks) and, on the main process, the rect validation loader."""
    from yoloforge.data.dataset import DetectionDataset
    from yoloforge.data.files import list_images
    from yoloforge.data.loader import build_dataloader
    from yoloforge.engine.val.mode import build_val_loader

    imgsz = cfg.long_side
    workers = min(cfg.workers, 8)
    train = DetectionDataset(list_images(data.train), data.nc, data.names, cfg, augment=True, batch_size=batch,
                             imgsz=imgsz, prefix="train: ")  # fmt: skip
    train_loader = build_dataloader(train, batch, workers, shuffle=not train.rect, seed=cfg.seed, rank=rank,
                                    world_size=world)  # fmt: skip
    val_loader = build_val_loader(cfg, data, "val", batch, imgsz) if main else None
    return train_loader, val_loader


def planned_iterations(n_images: int, batch: int, nbs: int, epochs: int) -> int:
    """Optimizer steps of the whole run, for optimizer='auto'."""
    return math.ceil(n_images / max(batch, nbs)) * epochs
