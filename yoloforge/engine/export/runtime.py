"""Run an exported model (ONNX, TorchScript, OpenVINO) as if it were the PyTorch DetectionModel.

`load_backend(path)` returns a callable taking a (B, 3, H, W) float batch in 0..1 (RGB) and returning the
eval-mode output (B, 4 + nc, anchors): xywh boxes in input pixels then class probabilities, in the input's
dtype and device, so NMS and the predictor / validator need no per-format code. The file's metadata gives
`names`, `stride`, `imgsz` (h, w) and `task`; a static-shape file checks each batch against its shape.
Runtimes are imported only when a file of their format is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from yoloforge.export import ExportError, quiet_tracing, require
from yoloforge.export.metadata import ExportMeta, from_json, from_strings, from_yaml

Shape = tuple[int | None, ...]


class Backend:
    """An exported model plus its metadata; subclasses implement `_run` for one runtime.

    `channels` is the output's static size along dim 1 (4 + nc) when the runtime knows it, else None.
    """

    def __init__(
        self, path: Path, meta: ExportMeta | None, input_shape: Shape, device: torch.device, channels: int | None = None
    ) -> None:
        self.path, self.device, self.input_shape = path, device, input_shape
        if meta is None:  # a file from another exporter, without metadata: infer what the shape tells
            h, w = input_shape[2:] if None not in input_shape[2:] else (640, 640)
            meta = ExportMeta(names={}, imgsz=(int(h), int(w)))
        self.meta = meta
        self.names: dict[int, str] = dict(meta.names)
        if not self.names and channels is not None:  # no metadata: number the classes from the output shape
            self.names = {i: f"class{i}" for i in range(channels - 4)}
        self.stride, self.imgsz, self.task = meta.stride, meta.imgsz, meta.task
        self.dynamic = None in input_shape  # input_shape: (batch, 3, h, w), None where any size runs

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4 + nc, A) predictions for a (B, 3, H, W) batch, like DetectionModel.eval()(x)."""
        if not x.is_floating_point():
            raise ExportError(f"{self.path.name} expects a float batch scaled to 0..1, got {x.dtype} (divide by 255)")
        self.check_shape(tuple(x.shape))
        y = self._run(x)
        if not self.names:  # no metadata and no static output shape: number the classes on first use
            self.names.update({i: f"class{i}" for i in range(y.shape[1] - 4)})
        return y.to(device=x.device, dtype=x.dtype)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Fail with the expected shape instead of a runtime's opaque error."""
        want = self.input_shape
        if len(shape) != len(want) or any(w is not None and w != s for w, s in zip(want, shape, strict=True)):
            expected = "(" + ", ".join("?" if w is None else str(w) for w in want) + ")"
            hint = "" if self.dynamic else "; letterbox to this size, or export again with dynamic=True"
            raise ExportError(f"{self.path.name} expects input shape {expected}, got {tuple(shape)}{hint}")
        if any(s % self.stride for s in shape[2:]):
            raise ExportError(f"{self.path.name}: input height and width must be multiples of {self.stride}, "
                              f"got {tuple(shape[2:])}")  # fmt: skip

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, input={self.input_shape}, nc={len(self.names)})"


def _numpy(x: torch.Tensor, dtype: Any) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=dtype)


class OnnxBackend(Backend):
    """onnxruntime session; CUDA provider when asked for and installed, otherwise CPU."""

    def __init__(self, path: Path, device: torch.device) -> None:
        ort = require("onnxruntime", "Running ONNX models")
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as e:  # onnxruntime's own error types
            raise ExportError(f"onnxruntime cannot load {path}: {e}") from None
        props = self.session.get_modelmeta().custom_metadata_map
        inp = self.session.get_inputs()[0]
        self.input_name, self.dtype = inp.name, np.float16 if inp.type == "tensor(float16)" else np.float32
        shape = tuple(d if isinstance(d, int) else None for d in inp.shape)
        out_shape = self.session.get_outputs()[0].shape
        channels = out_shape[1] if len(out_shape) == 3 and isinstance(out_shape[1], int) else None
        super().__init__(path, from_strings(props) if props else None, shape, device, channels)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: _numpy(x, self.dtype)})[0]
        return torch.from_numpy(out)


class TorchScriptBackend(Backend):
    """torch.jit.load; metadata from the `config.txt` extra file (JSON; `config.json` in our older files)."""

    def __init__(self, path: Path, device: torch.device) -> None:
        extra = {"config.json": "", "config.txt": ""}
        try:
            with quiet_tracing():  # torch.jit.load's deprecation banner is ours to act on, not the user's
                self.module = torch.jit.load(str(path), map_location=device, _extra_files=extra).eval()
        except RuntimeError as e:
            raise ExportError(f"{path} is not a readable TorchScript file: {e}") from None
        text = extra["config.txt"] or extra["config.json"]
        meta = from_json(text) if text else None
        shape: Shape = (None, 3, None, None)  # a trace records shape arithmetic: any size runs
        if meta is not None and not meta.dynamic:
            shape = (meta.batch, 3, *meta.imgsz)
        self.dtype = torch.float16 if meta is not None and meta.half else torch.float32
        super().__init__(path, meta, shape, device)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        # The profiling executor re-optimises the graph on the second call (seconds on a small CPU) for no
        # gain on CPU; plain execution keeps every call as fast as the first.
        with torch.no_grad(), torch.jit.optimized_execution(self.device.type != "cpu"):
            y = self.module(x.to(self.device, self.dtype))
        return y[0] if isinstance(y, list | tuple) else y


class OpenVINOBackend(Backend):
    """OpenVINO runtime on CPU, from an IR folder holding one .xml/.bin pair and metadata.yaml."""

    def __init__(self, folder: Path, device: torch.device) -> None:
        ov = require("openvino", "Running OpenVINO models")
        xmls = sorted(folder.glob("*.xml"))
        if len(xmls) != 1:
            raise ExportError(f"{folder} should hold exactly one OpenVINO .xml model, found {len(xmls)}")
        meta_file = folder / "metadata.yaml"
        meta = from_yaml(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else None
        # OpenVINO's CPU plugin computes in bf16 by default where the CPU has it (AVX512-BF16, AMX), which moves
        # boxes by ~1 px; an FP32 export runs in FP32 so its outputs match PyTorch's.
        config = {} if meta is not None and meta.half else {"INFERENCE_PRECISION_HINT": "f32"}
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(xmls[0])), "CPU", config)
        ps = self.compiled.input(0).get_partial_shape()
        shape = tuple(d.get_length() if d.is_static else None for d in ps)
        out = self.compiled.output(0).get_partial_shape()
        channels = out[1].get_length() if len(out) == 3 and out[1].is_static else None
        super().__init__(folder, meta, shape, device, channels)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        out = self.compiled(_numpy(x, np.float32))[self.compiled.output(0)]
        return torch.from_numpy(np.array(out, copy=True))


def load_backend(path: str | Path, device: str | int | torch.device | None = "cpu") -> Backend:
    """Open an exported model by its name: *.onnx, *.torchscript, or an *_openvino_model/ folder (or its .xml).

    `device` takes what `device=` does (None or '' for CPU, 0 or '0' for cuda:0, 'cuda:1', a torch.device).
    """
    p = Path(path)
    dev = _as_device(device)
    if not p.exists():
        raise ExportError(f"exported model not found: {p.resolve()}")
    if p.suffix.lower() == ".xml":
        p = p.parent
    if p.is_dir():
        return OpenVINOBackend(p, dev)
    if p.suffix.lower() == ".onnx":
        return OnnxBackend(p, dev)
    if p.suffix.lower() == ".torchscript":
        return TorchScriptBackend(p, dev)
    raise ExportError(f"{p}: not an exported model; expected a .onnx or .torchscript file or an "
                      "*_openvino_model folder")  # fmt: skip


def is_exported(path: str | Path) -> bool:
    """True for names `load_backend` opens (what the YOLO facade routes to a backend instead of a checkpoint)."""
    p = Path(path)
    return p.suffix.lower() in (".onnx", ".torchscript", ".xml") or p.name.lower().endswith("_openvino_model")


def _as_device(device: str | int | torch.device | None) -> torch.device:
    from yoloforge.engine.devices import select_devices

    if isinstance(device, torch.device):
        return device
    if device is None or str(device).strip() == "":
        return torch.device("cpu")
    return select_devices(str(device))[0]


class ExportedModel(torch.nn.Module):
    """An exported file behind the interface the predictor and validator use (names, nc, stride, forward).

    A fixed-shape export is fed in chunks of its batch size; a smaller letterboxed input is centred in the
    fixed size with letterbox grey (as the model saw in training) and the boxes are shifted back, so callers
    map them to the original image with their own ratio and padding.
    """

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self.register_buffer("stride", torch.tensor([float(backend.stride)]), persistent=False)

    @property
    def names(self) -> dict[int, str]:
        return self.backend.names

    @property
    def nc(self) -> int:
        return len(self.backend.names)

    @property
    def fixed_shape(self) -> bool:
        return not self.backend.dynamic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fixed_shape:
            return self.backend(x)
        b, _, hh, ww = self.backend.input_shape
        h, w = x.shape[2:]
        if h > hh or w > ww:
            raise ExportError(f"{self.backend.path.name} takes at most {hh}x{ww} images, got {h}x{w}; use imgsz={hh}")
        top, left = (hh - h) // 2, (ww - w) // 2
        x = torch.nn.functional.pad(x, (left, ww - w - left, top, hh - h - top), value=114 / 255)
        outs = []
        for chunk in x.split(b):
            n = chunk.shape[0]
            if n < b:
                chunk = torch.cat([chunk, chunk.new_zeros(b - n, *chunk.shape[1:])])
            outs.append(self.backend(chunk)[:n])
        y = torch.cat(outs)
        y[:, 0] -= left  # box centres x, y back into the caller's input
        y[:, 1] -= top
        return y
