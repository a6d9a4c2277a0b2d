"""Export mode: turn a model into a TorchScript, ONNX or OpenVINO file that runs without yoloforge.

`export_model(yolo, cfg)` fuses a copy of the model, traces it on a zero batch at `imgsz`, writes the file
beside the checkpoint (best.pt -> best.onnx, best.torchscript, best_openvino_model/) atomically, with
metadata (class names, stride, imgsz, task, version, date), and returns its path. The formats live in
`yoloforge.export`; `yoloforge.engine.export.runtime.load_backend` runs the files.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from yoloforge.errors import ConfigError
from yoloforge.export import FORMATS, SUFFIXES, ExportError, require
from yoloforge.export.metadata import ExportMeta, build_meta
from yoloforge.utils.log import LOGGER

if TYPE_CHECKING:
    from yoloforge.cfg.schema import RunConfig
    from yoloforge.nn.model import DetectionModel

_RUNTIME = {"onnx": ("onnx", "ONNX export"), "openvino": ("openvino", "OpenVINO export")}


def export_model(yolo_or_model: Any, cfg: RunConfig, out: str | Path | None = None) -> Path:
    """Export a `YOLO` (or a bare DetectionModel) as `cfg.format`; returns the written file or folder.

    `out` is the folder to write into; by default the checkpoint's folder, or the current folder for a
    model built from a YAML. `batch` is 1 unless set explicitly (the training default of 16 is not used).
    """
    fmt = _check_format(cfg.format)
    model, source = _unwrap(yolo_or_model)
    if fmt in _RUNTIME:
        require(*_RUNTIME[fmt])  # every check before the slow part
    extra: dict[str, Any] = {"source": Path(source).name if source else model.display_name}
    if fmt == "onnx":
        from yoloforge.export.onnx import check_opset

        extra["opset"] = check_opset(cfg.opset)
    imgsz, batch = _imgsz(cfg.imgsz, model), _batch(cfg)
    device = _device(cfg.device, fmt)
    half = _half(cfg.half, device, fmt)
    traced = prepare(model, device, half=half and fmt != "openvino")
    im = torch.zeros(batch, model.ch, *imgsz, device=device, dtype=next(traced.parameters()).dtype)
    dynamic = cfg.dynamic or fmt == "torchscript"  # a TorchScript trace runs at any shape anyway
    meta = build_meta(model, fmt, imgsz, batch, dynamic, half, **extra)
    path = output_path(model, source, fmt, out)
    LOGGER.info("Exporting %s to %s: input %s, %s%s", extra["source"], fmt, tuple(im.shape),
                "FP16" if half else "FP32", ", dynamic shapes" if cfg.dynamic else "")  # fmt: skip
    t0 = time.perf_counter()
    _write(fmt, traced, im, path, meta, cfg)
    LOGGER.info("Exported %s (%.1f MB) in %.1fs", path, _size_mb(path), time.perf_counter() - t0)
    return path


def prepare(model: DetectionModel, device: torch.device, half: bool = False) -> DetectionModel:
    """A fused, frozen, eval-mode copy on `device` (the caller's model is left as it was)."""
    m = copy.deepcopy(model).to(device).float().fuse().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m.half() if half else m


def output_path(model: DetectionModel, source: str | None, fmt: str, out: str | Path | None = None) -> Path:
    """best.pt -> best.onnx beside it (or in `out`); a YAML-built model is named after its architecture."""
    ckpt = Path(source) if source and Path(source).suffix.lower() == ".pt" else None
    stem = ckpt.stem if ckpt else model.display_name
    folder = Path(out) if out is not None else (ckpt.parent if ckpt else Path.cwd())
    return folder / f"{stem}{SUFFIXES[fmt]}"


def _write(fmt: str, m: torch.nn.Module, im: torch.Tensor, path: Path, meta: ExportMeta, cfg: RunConfig) -> None:
    try:
        _dispatch(fmt, m, im, path, meta, cfg)
    except OSError as e:  # e.g. a read-only checkpoint folder: say where, as a user-fixable error
        raise ExportError(f"cannot write {path}: {e}") from e


def _dispatch(fmt: str, m: torch.nn.Module, im: torch.Tensor, path: Path, meta: ExportMeta, cfg: RunConfig) -> None:
    if fmt == "torchscript":
        from yoloforge.export.torchscript import export_torchscript

        export_torchscript(m, im, path, meta)
    elif fmt == "onnx":
        from yoloforge.export.onnx import export_onnx

        export_onnx(m, im, path, meta, opset=meta.extra["opset"], simplify=cfg.simplify)
    else:
        from yoloforge.export.openvino import export_openvino

        export_openvino(m, im, path, meta)


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} is not supported: choose one of {', '.join(FORMATS)}")
    return fmt


def _unwrap(obj: Any) -> tuple[DetectionModel, str | None]:
    """(model, source path or YAML name) from a YOLO facade, or (model, None) from a bare model."""
    from yoloforge.nn.model import DetectionModel

    if isinstance(obj, DetectionModel):
        return obj, None
    model = getattr(obj, "model", None)
    if not isinstance(model, DetectionModel):
        raise ConfigError(f"cannot export {type(obj).__name__}: expected a YOLO or a DetectionModel")
    return model, getattr(obj, "source", None)


def _imgsz(imgsz: int | list[int], model: DetectionModel) -> tuple[int, int]:
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else (imgsz[0], imgsz[-1])
    s = int(model.stride.max())
    if h % s or w % s:
        raise ConfigError(f"imgsz={imgsz}: export needs sizes divisible by the model's stride {s}")
    return int(h), int(w)


def _batch(cfg: RunConfig) -> int:
    """The traced batch: 1 unless batch= was given (static exports accept exactly this batch)."""
    if "batch" not in cfg.model_fields_set:
        return 1
    if not isinstance(cfg.batch, int) or cfg.batch < 1:
        raise ConfigError(f"batch={cfg.batch}: export needs a whole number of images >= 1")
    return cfg.batch


def _device(device: str | None, fmt: str) -> torch.device:
    """CPU unless a device is named; OpenVINO always converts on CPU."""
    if not device or fmt == "openvino":
        return torch.device("cpu")
    from yoloforge.engine.devices import select_devices

    return select_devices(device)[0]


def _half(half: bool, device: torch.device, fmt: str) -> bool:
    """FP16 needs CUDA for traced formats; OpenVINO stores FP16 weights on any device."""
    if half and fmt != "openvino" and device.type != "cuda":
        LOGGER.warning("half=True is ignored on %s: FP16 export needs a CUDA device (e.g. device=0); "
                       "exporting FP32", device.type)  # fmt: skip
        return False
    return half


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20
