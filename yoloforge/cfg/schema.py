"""The settings schema: the single source of truth for every run setting.

The CLI, `YOLO(...).train(**kw)`, `cfg=file.yaml`, checkpoints' saved args and (later) the platform
all validate through `RunConfig`. Each field carries its default, type, range and help text, so
`yoloforge cfg`, error messages and a JSON Schema for web forms come from one place.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from yoloforge.utils.log import LOGGER

Task = Literal["detect"]
Mode = Literal["train", "val", "predict", "export", "info"]
OPTIMIZERS = ("auto", "SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSProp")


def _f(default: Any, help: str, group: str, **kw: Any) -> Any:
    """A field with help text, tagged with its group (train, augment, val, predict, export)."""
    return Field(default, description=help, json_schema_extra={"group": group}, **kw)


def _frac(default: float, help: str, group: str = "augment") -> Any:
    return _f(default, help, group, ge=0.0, le=1.0)


class RunConfig(BaseModel):
    """Every setting of a run, validated and frozen once resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # --- what to run ---------------------------------------------------------------------------
    task: Task = _f("detect", "Task: only object detection for now.", "general")
    mode: Mode = _f("train", "Mode: train, val, predict, export or info.", "general")
    model: str | None = _f(None, "Model: an architecture YAML (yolo11n.yaml) or a checkpoint (.pt).", "general")
    data: str | None = _f(None, "Dataset YAML, e.g. coco8.yaml or path/to/data.yaml.", "general")
    cfg: str | None = _f(None, "A YAML file of settings that override the defaults.", "general")

    # --- training ------------------------------------------------------------------------------
    epochs: int = _f(100, "Number of epochs to train for.", "train", ge=1)
    time: float | None = _f(None, "Training time in hours; overrides epochs when set.", "train", gt=0)
    patience: int = _f(100, "Epochs without improvement before early stopping.", "train", ge=0)
    batch: int | float = _f(16, "Batch size; -1 for AutoBatch (60% GPU memory); 0-1 for a memory fraction.", "train")
    imgsz: int | list[int] = _f(
        640,
        "Image size in pixels (train/val: one square size, [h, w] becomes the longer side; predict/export: "
        "int or [h, w]).",
        "train",
    )
    save: bool = _f(True, "Save checkpoints and predictions.", "train")
    save_period: int = _f(-1, "Save a checkpoint every N epochs (-1: off).", "train", ge=-1)
    cache: bool | Literal["ram", "disk"] = _f(False, "Cache images: False, True/'ram' or 'disk'.", "train")
    device: str | None = _f(None, "Device: cpu, 0, 0,1, cuda:0, mps; empty picks CUDA, then MPS, then CPU.", "train")
    workers: int = _f(8, "Data loader worker processes (per process under multi-GPU).", "train", ge=0)
    project: str | None = _f(None, "Folder for runs (default runs/<task>).", "train")
    name: str | None = _f(None, "Run name inside the project folder (default <mode>, <mode>2, ...).", "train")
    exist_ok: bool = _f(False, "Reuse an existing run folder instead of numbering a new one.", "train")
    pretrained: bool | str = _f(True, "Start from pretrained weights: True/False or a checkpoint path.", "train")
    optimizer: str = _f("auto", f"Optimizer: {', '.join(OPTIMIZERS)}.", "train")
    verbose: bool = _f(True, "Print detailed progress.", "train")
    seed: int = _f(0, "Random seed.", "train", ge=0)
    deterministic: bool = _f(True, "Use deterministic algorithms (reproducible, may be slower).", "train")
    single_cls: bool = _f(False, "Treat every class as one class.", "train")
    classes: list[int] | None = _f(None, "Keep only these class ids, e.g. [0, 2].", "train")
    rect: bool = _f(False, "Rectangular batches (minimal padding).", "train")
    cos_lr: bool = _f(False, "Cosine learning-rate schedule instead of linear.", "train")
    close_mosaic: int = _f(10, "Turn mosaic, mixup and cutmix off for the last N epochs (0: never).", "train", ge=0)
    resume: bool | str = _f(False, "Resume training from last.pt (True or a path).", "train")
    amp: bool = _f(True, "Automatic mixed precision on CUDA.", "train")
    fraction: float = _f(1.0, "Fraction of the training set to use.", "train", gt=0.0, le=1.0)
    profile: bool = _f(False, "Profile export formats' speed during training.", "train")
    freeze: int | list[int] | None = _f(None, "Freeze the first N layers, or the listed layer indices.", "train")
    multi_scale: bool = _f(False, "Vary image size +/-50% between batches.", "train")

    # --- optimisation --------------------------------------------------------------------------
    lr0: float = _f(0.01, "Initial learning rate.", "train", ge=0.0)
    lrf: float = _f(0.01, "Final learning rate as a fraction of lr0.", "train", ge=0.0, le=1.0)
    momentum: float = _f(0.937, "SGD momentum / Adam beta1.", "train", ge=0.0, le=1.0)
    weight_decay: float = _f(0.0005, "Weight decay.", "train", ge=0.0)
    warmup_epochs: float = _f(3.0, "Warmup epochs (fractions allowed).", "train", ge=0.0)
    warmup_momentum: float = _f(0.8, "Momentum at the start of warmup.", "train", ge=0.0, le=1.0)
    warmup_bias_lr: float = _f(0.1, "Bias learning rate at the start of warmup.", "train", ge=0.0)
    box: float = _f(7.5, "Box loss gain.", "train", ge=0.0)
    cls: float = _f(0.5, "Classification loss gain.", "train", ge=0.0)
    dfl: float = _f(1.5, "Distribution focal loss gain.", "train", ge=0.0)
    pose: float = _f(12.0, "Pose loss gain (pose task).", "train", ge=0.0)
    kobj: float = _f(1.0, "Keypoint objectness loss gain (pose task).", "train", ge=0.0)
    nbs: int = _f(64, "Nominal batch size: gradients accumulate to this many images.", "train", ge=1)
    overlap_mask: bool = _f(True, "Merge masks into one image (segment task).", "train")
    mask_ratio: int = _f(4, "Mask downsample ratio (segment task).", "train", ge=1)
    dropout: float = _f(0.0, "Dropout (classify task).", "train", ge=0.0, le=1.0)
    val: bool = _f(True, "Validate every epoch (False: only after the last).", "train")
    plots: bool = _f(True, "Save plots.", "train")

    # --- augmentation --------------------------------------------------------------------------
    hsv_h: float = _frac(0.015, "Hue jitter (fraction of the hue circle).")
    hsv_s: float = _frac(0.7, "Saturation jitter (fraction).")
    hsv_v: float = _frac(0.4, "Brightness jitter (fraction).")
    degrees: float = _f(0.0, "Rotation range in degrees (+/-).", "augment", ge=0.0, le=180.0)
    translate: float = _frac(0.1, "Translation range (fraction of image size).")
    scale: float = _f(0.5, "Scale gain range (+/-).", "augment", ge=0.0)
    shear: float = _f(0.0, "Shear range in degrees (+/-).", "augment", ge=0.0, le=90.0)
    perspective: float = _f(0.0, "Perspective distortion (0-0.001 is sensible).", "augment", ge=0.0, le=0.001)
    flipud: float = _frac(0.0, "Probability of an up-down flip.")
    fliplr: float = _frac(0.5, "Probability of a left-right flip.")
    bgr: float = _frac(0.0, "Probability of swapping RGB to BGR.")
    mosaic: float = _frac(1.0, "Probability of a 4-image mosaic.")
    mixup: float = _frac(0.0, "Probability of mixup.")
    cutmix: float = _frac(0.0, "Probability of cutmix.")
    copy_paste: float = _frac(0.0, "Probability of copy-paste (needs segments).")
    copy_paste_mode: Literal["flip", "mixup"] = _f("flip", "Copy-paste source: flip or mixup.", "augment")
    auto_augment: Literal["randaugment", "autoaugment", "augmix"] | None = _f(
        "randaugment", "Auto augmentation policy (classify task).", "augment"
    )
    erasing: float = _f(0.4, "Random erasing probability (classify task).", "augment", ge=0.0, le=0.9)

    # --- validation ----------------------------------------------------------------------------
    split: Literal["train", "val", "test"] = _f("val", "Dataset split to validate on.", "val")
    save_json: bool = _f(False, "Write COCO-format predictions JSON.", "val")
    conf: float | None = _f(None, "Confidence threshold (default 0.001 for val, 0.25 for predict).", "val", ge=0, le=1)
    iou: float = _f(0.7, "IoU threshold for NMS.", "val", ge=0.0, le=1.0)
    max_det: int = _f(300, "Maximum detections per image.", "val", ge=1)
    half: bool = _f(False, "Half precision inference (CUDA).", "val")
    agnostic_nms: bool = _f(False, "Class-agnostic NMS.", "val")

    # --- prediction ----------------------------------------------------------------------------
    source: str | None = _f(None, "Prediction source: image, folder, glob or list file.", "predict")
    save_txt: bool = _f(False, "Save predicted boxes as YOLO label files.", "predict")
    save_conf: bool = _f(False, "Add confidences to saved label files.", "predict")
    show_labels: bool = _f(True, "Draw class names on predictions.", "predict")
    show_conf: bool = _f(True, "Draw confidences on predictions.", "predict")
    line_width: int | None = _f(None, "Box line width in pixels (default scales with image).", "predict", ge=1)

    # --- export --------------------------------------------------------------------------------
    format: str = _f("torchscript", "Export format: torchscript, onnx, openvino.", "export")
    dynamic: bool = _f(False, "Dynamic input shapes (ONNX).", "export")
    simplify: bool = _f(True, "Simplify the ONNX graph when a simplifier is installed.", "export")
    opset: int | None = _f(None, "ONNX opset version (default: the exporter's choice).", "export", ge=7)

    @property
    def long_side(self) -> int:
        """The square size train and val use: imgsz itself, or the longer side of [h, w]."""
        return self.imgsz if isinstance(self.imgsz, int) else max(self.imgsz)

    # --- validators ----------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _square_for_train_val(cls, data: Any) -> Any:
        """Train and val use one square size: an [h, w] imgsz becomes its longer side, said once (as
        Ultralytics' check_imgsz does), so the recorded settings (args.yaml, checkpoints) say what ran."""
        if not isinstance(data, dict):
            return data
        sizes, mode = data.get("imgsz"), data.get("mode", "train")
        if mode not in ("train", "val") or not isinstance(sizes, list | tuple) or not 1 <= len(sizes) <= 2:
            return data
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
            return data  # the field validator explains what is wrong
        if len(set(sizes)) > 1:
            LOGGER.warning("imgsz=%s: %s uses one square size, the longer side: imgsz=%d (an [h, w] size applies "
                           "to predict and export)", list(sizes), mode, max(sizes))  # fmt: skip
        return {**data, "imgsz": max(sizes)}

    @field_validator("batch")
    @classmethod
    def _check_batch(cls, v: int | float) -> int | float:
        if isinstance(v, bool):
            raise ValueError("expected an integer >= 1, -1 for AutoBatch, or a fraction between 0 and 1")
        if isinstance(v, float):
            if 0.0 < v < 1.0:
                return v
            if v.is_integer():
                v = int(v)
            else:
                raise ValueError("expected an integer >= 1, -1 for AutoBatch, or a fraction between 0 and 1")
        if v == -1 or v >= 1:
            return v
        raise ValueError("expected an integer >= 1, -1 for AutoBatch, or a fraction between 0 and 1")

    @field_validator("imgsz")
    @classmethod
    def _check_imgsz(cls, v: int | list[int]) -> int | list[int]:
        sizes = [v] if isinstance(v, int) else list(v)
        if not 1 <= len(sizes) <= 2:
            raise ValueError("expected one size or [height, width]")
        fixed = []
        for s in sizes:
            if s < 32:
                raise ValueError("expected at least 32 pixels")
            r = int(math.ceil(s / 32) * 32)
            if r != s:
                LOGGER.warning("imgsz=%s is not a multiple of 32 (the largest stride); using %s", s, r)
            fixed.append(r)
        return fixed[0] if isinstance(v, int) else fixed

    @field_validator("device", mode="before")
    @classmethod
    def _device_to_str(cls, v: Any) -> Any:
        """Accept 0, [0, 1] and '0,1' alike; store one string."""
        if v is None or isinstance(v, str):
            return v.strip().lower() if isinstance(v, str) else v
        if isinstance(v, bool):
            raise ValueError("expected cpu, mps, a CUDA index like 0, or indices like 0,1")
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list | tuple) and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
            return ",".join(str(i) for i in v)
        raise ValueError("expected cpu, mps, a CUDA index like 0, or indices like 0,1")

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("cache", mode="before")
    @classmethod
    def _cache_ram(cls, v: Any) -> Any:
        if isinstance(v, str) and v.lower() in ("ram", "disk"):
            return v.lower()
        return v

    @field_validator("optimizer")
    @classmethod
    def _check_optimizer(cls, v: str) -> str:
        for name in OPTIMIZERS:
            if v.lower() == name.lower():
                return name
        raise ValueError(f"expected one of {', '.join(OPTIMIZERS)}")

    @field_validator("format")
    @classmethod
    def _lower_format(cls, v: str) -> str:
        return v.lower()


def field_group(name: str) -> str:
    extra = RunConfig.model_fields[name].json_schema_extra
    return extra.get("group", "general") if isinstance(extra, dict) else "general"
