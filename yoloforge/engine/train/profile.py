"""profile=True: before training, time the model's inference in PyTorch and in each installed export runtime.

A copy of the model is exported to a temporary folder with the library's exporter (TorchScript always; ONNX
when onnx and onnxruntime are installed; OpenVINO when openvino is), each file is run with the runtime that
predict and val use (`engine.export.runtime.load_backend`) on one image of imgsz x imgsz, and a table of the
median milliseconds per image is logged. A runtime that is missing or fails is listed as such; profiling never
stops training.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from yoloforge.cfg.schema import RunConfig
from yoloforge.utils.log import LOGGER

WARMUP, RUNS = 2, 10
# format -> (label, packages its export and runtime need)
FORMATS = {
    "torchscript": ("TorchScript", ("torch",)),
    "onnx": ("ONNX", ("onnx", "onnxruntime")),
    "openvino": ("OpenVINO", ("openvino",)),
}


@dataclass
class ProfileRow:
    """One line of the table: `ms` is the median inference time per image, None when not measured."""

    format: str
    runtime: str
    size_mb: float | None = None
    ms: float | None = None
    note: str = ""


def profile_model(model: Any, cfg: RunConfig, device: torch.device) -> list[ProfileRow]:
    """Time `model` (a DetectionModel, left unchanged) in PyTorch and each installed runtime; log the table."""
    from yoloforge.engine.val.mode import inference_copy

    imgsz = cfg.long_side
    x = torch.zeros(1, 3, imgsz, imgsz, device=device)
    fused = inference_copy(model, device)
    rows = [ProfileRow("PyTorch", f"torch {_version('torch')}", _param_mb(fused), _median_ms(fused, x, device))]
    with tempfile.TemporaryDirectory(prefix="yoloforge-profile-") as tmp:
        for fmt, (label, packages) in FORMATS.items():
            rows.append(_profile_format(model, cfg, device, x, fmt, label, packages, Path(tmp)))
    LOGGER.info(format_table(rows, imgsz, device))
    return rows


def _profile_format(
    model: Any, cfg: RunConfig, device: torch.device, x: torch.Tensor, fmt: str, label: str, packages: tuple[str, ...],
    folder: Path,
) -> ProfileRow:  # fmt: skip
    from yoloforge.engine.export.exporter import export_model
    from yoloforge.engine.export.runtime import load_backend

    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    runtime = packages[-1]
    if missing:
        return ProfileRow(label, runtime, note=f"not installed ({', '.join(missing)})")
    try:
        export_cfg = cfg.model_copy(update={"format": fmt, "batch": 1, "half": False, "dynamic": False,
                                           "device": str(device)})  # fmt: skip
        path = export_model(model, export_cfg, out=folder)
        backend = load_backend(path, device)
        return ProfileRow(label, f"{runtime} {_version(runtime)}", _size_mb(path), _median_ms(backend, x, device))
    except Exception as e:  # a runtime's own error types; profiling must never stop training
        return ProfileRow(label, runtime, note=f"failed: {type(e).__name__}: {e}"[:120])


def _median_ms(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, device: torch.device) -> float:
    times = []
    with torch.no_grad():
        for i in range(WARMUP + RUNS):
            t0 = time.perf_counter()
            fn(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= WARMUP:
                times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _param_mb(model: torch.nn.Module) -> float:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def format_table(rows: list[ProfileRow], imgsz: int, device: torch.device) -> str:
    """The logged table: one line per format, ms per image at batch 1."""
    head = f"{'Format':<13}{'Runtime':<24}{'Size (MB)':>10}{'Inference (ms)':>16}"
    lines = [f"Profile: inference of one {imgsz}x{imgsz} image on {device} (median of {RUNS} runs)", head]
    for r in rows:
        size = f"{r.size_mb:10.1f}" if r.size_mb is not None else f"{'-':>10}"
        ms = f"{r.ms:16.2f}" if r.ms is not None else f"{'-':>16}"
        lines.append(f"{r.format:<13}{r.runtime:<24}{size}{ms}{'  ' + r.note if r.note else ''}")
    return "\n".join(lines)
