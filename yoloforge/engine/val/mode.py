"""Val mode: validate a trained model on a dataset split (`yoloforge val`, `YOLO(...).val()`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yoloforge.cfg.schema import RunConfig
from yoloforge.errors import ConfigError
from yoloforge.utils.log import LOGGER


def build_val_loader(cfg: RunConfig, data: Any, split: str, batch: int, imgsz: int, rect: bool = True) -> Any:
    """Rect, letterboxed loader over one split, the same one training validates with (square for fixed-shape
    exported models, which cannot take rect batches larger than their input)."""
    from yoloforge.data.dataset import DetectionDataset
    from yoloforge.data.files import list_images
    from yoloforge.data.loader import build_dataloader

    sources = getattr(data, split)
    if not sources:
        raise ConfigError(f"split={split}: dataset {data.yaml_file} has no '{split}' images")
    dataset = DetectionDataset(list_images(sources), data.nc, data.names, cfg, augment=False, rect=rect,
                               batch_size=batch, imgsz=imgsz, prefix=f"{split}: ")  # fmt: skip
    return build_dataloader(dataset, batch, min(cfg.workers, 2), shuffle=False, seed=cfg.seed)


def inference_copy(model: Any, device: Any) -> Any:
    """A fused, channels-last copy for evaluation (the caller's model is left as it is); exported models as-is."""
    import copy

    import torch

    if not hasattr(model, "fuse"):
        return model.to(device)
    return copy.deepcopy(model).to(device, memory_format=torch.channels_last).eval().fuse()


def check_classes_match(model_nc: int, data: Any, single_cls: bool) -> None:
    """A model validates on a dataset of as many classes; with single_cls also a one-class model (nc=1)."""
    if model_nc == data.nc or (single_cls and model_nc == 1):
        return
    hint = "; pass single_cls=True to validate a one-class model on it" if model_nc == 1 else ""
    raise ConfigError(f"the model has {model_nc} classes but {data.yaml_file} has {data.nc}: validate on the "
                      f"dataset the model was trained for{hint}")  # fmt: skip


def validate(model: Any, cfg: RunConfig, save_dir: Path | None = None) -> Any:
    """Validate `model` (a DetectionModel) with `cfg`; returns the metrics object (box.map, results_dict ...)."""
    from yoloforge.data.dataset_yaml import load_dataset_yaml
    from yoloforge.engine.devices import select_devices
    from yoloforge.engine.run_dir import run_dir
    from yoloforge.engine.train.autobatch import DEFAULT_BATCH
    from yoloforge.engine.val.validator import Validator

    if not cfg.data:
        raise ConfigError("val needs a dataset: add data=coco8.yaml or data=path/to/data.yaml")
    data = load_dataset_yaml(cfg.data)
    check_classes_match(model.nc, data, cfg.single_cls)
    device = select_devices(cfg.device)[0]
    batch = cfg.batch if isinstance(cfg.batch, int) and cfg.batch >= 1 else DEFAULT_BATCH  # no AutoBatch for val
    imgsz = cfg.long_side
    rect = not getattr(model, "fixed_shape", False)
    loader = build_val_loader(cfg, data, cfg.split, batch, imgsz, rect=rect)
    if save_dir is None and (cfg.plots or cfg.save_json):
        save_dir = run_dir(cfg, "val")
    validator = Validator(loader, data.names, cfg, device, save_dir=save_dir)
    result = validator(inference_copy(model, device), final=True)
    if save_dir is not None:
        LOGGER.info("Results saved to %s", save_dir)
    return result.metrics
