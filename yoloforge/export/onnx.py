"""ONNX export through torch's TorchScript-based exporter, then onnxslim, metadata and onnx.checker.

Exporter choice: torch 2.13 still ships `torch.onnx.export(..., dynamo=False)` (deprecated, not removed).
It needs no extra package (the dynamo exporter needs onnxscript) and traces this model exactly; its
highest opset is 20. Default opset: 19. Every op the detector uses (Conv, Resize, Split, Softmax,
Sigmoid, Concat) exists unchanged since opset 13, and 19 loads in onnxruntime >= 1.14, OpenVINO and
TensorRT 8.6+, so a newer default would narrow the runtimes that can read the file for no gain.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from yoloforge.errors import ConfigError
from yoloforge.export import ExportError, quiet_tracing, require
from yoloforge.export.metadata import ExportMeta, to_strings
from yoloforge.utils.io import atomic_write_bytes
from yoloforge.utils.log import LOGGER

DEFAULT_OPSET = 19
MIN_OPSET = 13  # Split with a sizes input: what the head's box/class split exports to
INPUT, OUTPUT = "images", "output0"


def max_opset() -> int:
    """The highest opset torch's TorchScript-based exporter writes (20 in torch 2.13)."""
    from torch.onnx import _constants

    return int(getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 17))


def check_opset(opset: int | None) -> int:
    """The opset to write: the default, or the asked one if the exporter can write it."""
    if opset is None:
        return min(DEFAULT_OPSET, max_opset())
    if not MIN_OPSET <= opset <= max_opset():
        raise ConfigError(f"opset={opset}: this torch ({torch.__version__}) exports ONNX opsets {MIN_OPSET}-"
                          f"{max_opset()}; leave opset unset for {min(DEFAULT_OPSET, max_opset())}")  # fmt: skip
    return opset


def export_onnx(
    model: torch.nn.Module, im: torch.Tensor, path: Path, meta: ExportMeta, opset: int, simplify: bool = True
) -> Path:
    """Write `model` traced on `im` as ONNX with `meta` in metadata_props; dynamic axes when meta.dynamic."""
    onnx = require("onnx", "ONNX export")
    proto = onnx.load_from_string(trace_onnx(model, im, opset, meta.dynamic))
    if simplify:
        proto = _simplify(proto)
    del proto.metadata_props[:]
    for key, value in to_strings(meta).items():
        proto.metadata_props.add(key=key, value=value)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"the exported ONNX graph does not pass onnx.checker: {e}") from None
    atomic_write_bytes(path, proto.SerializeToString())
    return path


def trace_onnx(model: torch.nn.Module, im: torch.Tensor, opset: int, dynamic: bool) -> bytes:
    """The ONNX bytes torch writes; dynamic names batch, height and width (and anchors on the output)."""
    axes: dict[str, Any] | None = None
    if dynamic:
        axes = {INPUT: {0: "batch", 2: "height", 3: "width"}, OUTPUT: {0: "batch", 2: "anchors"}}
    buf = io.BytesIO()
    with quiet_tracing(), torch.no_grad():
        torch.onnx.export(
            model,
            (im,),
            buf,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes=axes,
            do_constant_folding=True,
        )
    return buf.getvalue()


def _simplify(proto: Any) -> Any:
    """Fold constants and fuse shape arithmetic with onnxslim when installed; never fatal."""
    try:
        import onnxslim
    except ImportError:
        LOGGER.info("ONNX: simplification skipped (onnxslim is not installed: pip install 'yoloforge[export]')")
        return proto

    before = len(proto.graph.node)
    try:
        slim = onnxslim.slim(proto)
    except Exception as e:  # a simplifier bug must not cost the user the export
        LOGGER.warning("ONNX: onnxslim failed (%s); keeping the unsimplified graph", e)
        return proto
    LOGGER.info("ONNX: onnxslim %s simplified %d -> %d nodes", onnxslim.__version__, before, len(slim.graph.node))
    return slim
