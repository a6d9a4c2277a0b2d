"""TorchScript export: a traced graph runnable from C++ (libtorch) or Python without yoloforge.

The trace records shape arithmetic (anchor grids come from the feature maps' sizes), so the file runs
at any batch and any input size divisible by the stride, whatever size it was traced at.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from yoloforge.export import quiet_tracing
from yoloforge.export.metadata import ExportMeta, to_json
from yoloforge.utils.io import atomic_write_bytes

EXTRA_FILE = "config.txt"  # the name Ultralytics' runtime reads (we wrote config.json before; still read)


def export_torchscript(model: torch.nn.Module, im: torch.Tensor, path: Path, meta: ExportMeta) -> Path:
    """Trace `model` on `im` and write it with its metadata (JSON) as the extra file `config.txt`."""
    with quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(model, im, strict=False, check_trace=False)  # the check re-runs the model twice
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={EXTRA_FILE: to_json(meta)})
    atomic_write_bytes(path, buf.getvalue())
    return path
