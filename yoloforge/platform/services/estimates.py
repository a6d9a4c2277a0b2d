"""Cost estimates before a job starts: seconds per epoch from the model's FLOPs and the GPU type's throughput,
times epochs, times the hourly rate, as a range.

Derived, not measured on each GPU (no GPU here): training one image costs about 3x the forward pass
(forward + backward for activations and weights: the usual 1:2 split of training FLOPs), the forward
pass's GFLOPs are the library's own count (`YOLO(cfg).info(imgsz=640)`, FlopCounterMode; the table
below, checked against the library by tests/platform/services/test_estimates.py) scaled by
(imgsz / 640)^2, and a GPU sustains 10-35% of its datasheet dense FP16/BF16 tensor throughput on YOLO
training (small convolutions, data loading, NMS-free loss; the band is an assumption: the estimate is a
range for that reason). Datasheets: NVIDIA RTX 3090 / 4090 / L40S / A100 / H100 / RTX PRO 6000
Blackwell product briefs, Apple M4 Pro GPU FP16 figure. `cpu` is measured, not a datasheet: on 2 cores,
PyTorch's forward + backward of yolo11n on 4 images at 640 took 1.4-1.5 s (about 53 GFLOP/s sustained), so
0.3 TFLOP/s in the 10-35% band gives 0.19-0.65 s per image; more cores train faster than this estimate says.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from yoloforge.platform.services.errors import Invalid
from yoloforge.platform.services.metering import cost_cents, rate_micro

TRAIN_FLOPS_PER_FORWARD = 3  # forward + backward (2x forward)
UTILISATION = (0.10, 0.35)  # fraction of datasheet peak sustained on YOLO training (low, high)
REFERENCE_IMGSZ = 640

# GFLOPs of one 640x640 forward pass, counted by the library (see module docstring)
GFLOPS_640: dict[str, float] = {
    "yolo11n": 6.54,
    "yolo11s": 21.59,
    "yolo11m": 68.10,
    "yolo11l": 87.16,
    "yolo11x": 195.27,
    "yolov8n": 8.74,
    "yolov8s": 28.60,
    "yolov8m": 78.94,
    "yolov8l": 165.15,
    "yolov8x": 257.80,
}

# Datasheet dense FP16/BF16 tensor TFLOP/s (FP32 accumulate where the sheet gives both), by normalised name
PEAK_TFLOPS: dict[str, float] = {
    "rtx6000pro": 500.0,
    "m4pro": 9.0,
    "rtx3090": 71.0,
    "rtx4090": 165.0,
    "l40s": 362.0,
    "a10040gb": 312.0,
    "a10080gb": 312.0,
    "a100": 312.0,
    "h10080gb": 989.0,
    "h100": 989.0,
    "cpu": 0.3,
}

# USD per hour from the cloud-training docs' GPU table; the GPU catalog (GET /api/v1/gpus) is authoritative
DOCS_RATES: dict[str, Decimal] = {
    "rtx6000pro": Decimal("0"), "m4pro": Decimal("0"), "rtx3090": Decimal("0.44"), "rtx4090": Decimal("0.74"),
    "l40s": Decimal("1.14"), "a10040gb": Decimal("1.29"), "a10080gb": Decimal("1.99"), "h10080gb": Decimal("3.99"),
    "cpu": Decimal("0"),
}  # fmt: skip


def docs_rate(gpu_type: str) -> Decimal:
    """The docs' hourly rate of `gpu_type`; Invalid when it is not in the docs' table."""
    key = normalise(gpu_type)
    if key not in DOCS_RATES:
        raise Invalid(f"no rate known for GPU type {gpu_type!r}: give rate_per_hour", field="rate_per_hour")
    return DOCS_RATES[key]


def normalise(name: str) -> str:
    """'RTX 4090' -> 'rtx4090', 'A100 80GB' -> 'a10080gb', 'yolo11n.pt' -> 'yolo11n'."""
    name = re.sub(r"\.(pt|yaml|yml)$", "", name.strip().lower())
    return re.sub(r"[^a-z0-9]", "", name)


@dataclass(frozen=True)
class Estimate:
    """A range: seconds per epoch, total seconds and total cost (low, high), with how it was derived."""

    gpu_type: str
    model: str
    epochs: int
    images: int
    imgsz: int
    rate_per_hour: Decimal
    seconds_per_epoch: tuple[float, float]
    seconds: tuple[float, float]
    cost: tuple[Decimal, Decimal]
    basis: str


def model_gflops(model: str, imgsz: int) -> float:
    """GFLOPs of one forward pass of `model` (yolo11n..x, yolov8n..x) at imgsz; Invalid for an unknown model."""
    key = normalise(model)
    if key not in GFLOPS_640:
        known = ", ".join(GFLOPS_640)
        raise Invalid(f"no size table for model {model!r}: estimates cover {known}", field="model")
    return GFLOPS_640[key] * (imgsz / REFERENCE_IMGSZ) ** 2


def peak_tflops(gpu_type: str) -> float:
    """Datasheet peak of `gpu_type`; Invalid when the type is not in the table."""
    key = normalise(gpu_type)
    if key not in PEAK_TFLOPS:
        raise Invalid(
            f"no throughput figure for GPU type {gpu_type!r}: set its peak_tflops in the GPU catalog "
            f"(known by name: {', '.join(PEAK_TFLOPS)})",
            field="gpu",
        )
    return PEAK_TFLOPS[key]


def estimate(
    gpu_type: str,
    rate_per_hour: Decimal | str,
    model: str,
    *,
    epochs: int,
    imgsz: int,
    images: int,
    peak: float | None = None,
) -> Estimate:
    """Seconds per epoch, seconds and cost of training `model` for `epochs` on `images` training images.

    Seconds per epoch = images x 3 x GFLOPs(imgsz) / (peak TFLOP/s x utilisation), utilisation in
    UTILISATION (the high utilisation gives the low time). Cost = rate x seconds / 3600, rounded half-even
    to the cent like a charge (metering.cost_cents). `peak` (TFLOP/s) overrides the table's figure for the type.
    """
    if epochs < 1 or images < 1 or imgsz < 32:
        raise Invalid("epochs and images must be >= 1 and imgsz >= 32", field="epochs" if epochs < 1 else "images")
    work = images * TRAIN_FLOPS_PER_FORWARD * model_gflops(model, imgsz) * 1e9
    tflops = peak or peak_tflops(gpu_type)
    peak_flops = tflops * 1e12
    per_epoch = (work / (peak_flops * UTILISATION[1]), work / (peak_flops * UTILISATION[0]))
    total = (per_epoch[0] * epochs, per_epoch[1] * epochs)
    micro = rate_micro(Decimal(str(rate_per_hour)))
    cost = tuple((Decimal(cost_cents(micro, math.ceil(s * 1e6))) / 100).quantize(Decimal("0.01")) for s in total)
    basis = (
        f"derived: {images} images x 3 x {model_gflops(model, imgsz):.1f} GFLOPs (imgsz={imgsz}) / "
        f"({tflops:g} TFLOP/s peak x {UTILISATION[0]:.0%}-{UTILISATION[1]:.0%} utilisation)"
    )
    return Estimate(
        gpu_type=gpu_type, model=normalise(model), epochs=epochs, images=images, imgsz=imgsz,
        rate_per_hour=Decimal(str(rate_per_hour)), seconds_per_epoch=per_epoch, seconds=total,
        cost=(cost[0], cost[1]), basis=basis,
    )  # fmt: skip


def train_images(version: Any) -> int:
    """Training images per epoch of a DatasetVersion: its report's train split, else all its images."""
    split = (version.report or {}).get("splits", {}).get("train") or {}
    return int(split.get("images") or version.images)


def catalog_peak(gpu_type: Any) -> float | None:
    """The peak TFLOP/s of a catalog type: its `peak_tflops`, else the table's figure for its name or label
    (None: neither is known, and estimate() names the fix)."""
    peak = getattr(gpu_type, "peak_tflops", None)
    if peak is not None:
        return float(peak)
    for key in (normalise(str(getattr(gpu_type, "name", gpu_type))), normalise(getattr(gpu_type, "label", ""))):
        if key in PEAK_TFLOPS:
            return PEAK_TFLOPS[key]
    return None


def estimate_for(gpu_type: Any, model: str, *, epochs: int, imgsz: int, version: Any) -> Estimate:
    """The estimate of a submission (what jobs' `POST .../models` with dry_run=true returns): `gpu_type` a catalog
    type (name, hourly rate, catalog_peak), `version` the DatasetVersion trained on. Invalid when the model or
    the GPU type has no figure."""
    from yoloforge.platform.services.billing_rules import rate_of

    name = str(getattr(gpu_type, "name", gpu_type))
    return estimate(name, rate_of(gpu_type), model, epochs=epochs, imgsz=imgsz, images=train_images(version),
                    peak=catalog_peak(gpu_type))  # fmt: skip
