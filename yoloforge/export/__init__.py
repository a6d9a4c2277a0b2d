"""Export a trained detector to deployable files: TorchScript, ONNX and OpenVINO.

The heavy runtimes (onnx, onnxruntime, onnxslim, openvino) are optional extras, imported only when
a format asks for them; `require` turns their absence into one message naming the extra to install.
Entry point: `yoloforge.engine.export.exporter.export_model`; inference from the files:
`yoloforge.engine.export.runtime`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from yoloforge.errors import YoloforgeError
from yoloforge.utils.io import default_mode

FORMATS = ("torchscript", "onnx", "openvino")
SUFFIXES = {"torchscript": ".torchscript", "onnx": ".onnx", "openvino": "_openvino_model"}
_EXTRA = {"onnx": "export", "onnxruntime": "export", "onnxslim": "export", "openvino": "openvino"}


class ExportError(YoloforgeError):
    """An export could not be written, or an exported file cannot be used as asked."""


class MissingDependencyError(ExportError, ImportError):
    """An optional runtime (onnx, onnxruntime, openvino) that a format needs is not installed."""


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional runtime, or fail with the `pip install 'yoloforge[extra]'` that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra = _EXTRA.get(module.split(".")[0], "export")
        raise MissingDependencyError(
            f"{purpose} needs the '{module}' package, which is not installed: pip install 'yoloforge[{extra}]' ({e})"
        ) from None


@contextlib.contextmanager
def quiet_tracing() -> Iterator[None]:
    """Silence the tracer's known, harmless notes (strides read as constants; deprecated-API banners).

    The head reads its strides with `.tolist()`, which the tracer flags, but strides are constants of the
    model; and torch marks `torch.jit.trace` / the TorchScript-based ONNX exporter deprecated, which is
    a note for us, not for the user exporting a model.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def publish_dir(new: Path, target: Path) -> None:
    """Rename a finished folder into place; an old `target` is moved aside first, deleted afterwards."""
    os.chmod(new, default_mode(directory=True))  # mkdtemp's folders are private; exports are not
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
