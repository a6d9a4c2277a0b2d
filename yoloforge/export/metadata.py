"""What an exported file says about itself: class names, stride, input size, task, version, date.

Every format stores the same fields (ONNX: metadata_props, one JSON value per key; TorchScript: an
extra file `config.json`; OpenVINO: `metadata.yaml` beside the IR), so a backend can letterbox, name
classes and check shapes without the checkpoint. Reading is lenient: values written as Python
literals (as other YOLO exporters do) are accepted too, and unknown keys are kept in `extra`.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yoloforge.nn.model import DetectionModel

FORMAT = "yoloforge.export"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ExportMeta:
    """The fields a backend needs; `imgsz` is (height, width), `stride` the largest level stride."""

    names: dict[int, str]
    stride: int = 32
    imgsz: tuple[int, int] = (640, 640)
    task: str = "detect"
    batch: int = 1
    dynamic: bool = False
    half: bool = False
    format: str = ""
    version: str = ""
    date: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, `extra` merged in at the top level."""
        d = asdict(self)
        extra = d.pop("extra")
        d["imgsz"] = list(self.imgsz)
        d["names"] = {str(k): v for k, v in self.names.items()}
        return {"format_version": FORMAT_VERSION, **extra, **d}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ExportMeta:
        """Parse decoded metadata; tolerant of missing fields and of int-or-pair imgsz."""
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        imgsz = raw.get("imgsz", (640, 640))
        imgsz = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(int(s) for s in imgsz)
        names = raw.get("names") or {}
        names = dict(enumerate(names)) if isinstance(names, list | tuple) else names
        return cls(
            names={int(k): str(v) for k, v in names.items()},
            stride=int(max(raw["stride"]) if isinstance(raw.get("stride"), list) else raw.get("stride", 32)),
            imgsz=(imgsz[0], imgsz[-1]),
            task=str(raw.get("task", "detect")),
            batch=int(raw.get("batch", 1)),
            dynamic=bool(raw.get("dynamic", False)),
            half=bool(raw.get("half", False)),
            format=str(raw.get("format", "")),
            version=str(raw.get("version", "")),
            date=str(raw.get("date", "")),
            extra={k: v for k, v in raw.items() if k not in known},
        )


def build_meta(
    model: DetectionModel, fmt: str, imgsz: tuple[int, int], batch: int, dynamic: bool, half: bool, **extra: Any
) -> ExportMeta:
    """Metadata for an export of `model`; `extra` (source, opset ...) is stored alongside."""
    from yoloforge import __version__

    strides = [int(s) for s in model.stride.tolist()]
    return ExportMeta(
        names={int(k): str(v) for k, v in model.names.items()},
        stride=max(strides),
        imgsz=imgsz,
        batch=batch,
        dynamic=dynamic,
        half=half,
        format=fmt,
        version=__version__,
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        extra={"writer": FORMAT, "model": model.display_name, "strides": strides, **extra},
    )


def to_json(meta: ExportMeta) -> str:
    return json.dumps(meta.to_dict(), sort_keys=True)


def from_json(text: str | bytes) -> ExportMeta:
    return ExportMeta.from_dict(json.loads(text))


def to_strings(meta: ExportMeta) -> dict[str, str]:
    """One JSON value per key, for string-to-string stores such as ONNX metadata_props."""
    return {k: json.dumps(v) for k, v in meta.to_dict().items()}


def from_strings(props: Mapping[str, str]) -> ExportMeta:
    """Inverse of `to_strings`; a value that is not JSON is tried as a Python literal, then kept as text."""
    return ExportMeta.from_dict({k: _decode(v) for k, v in props.items()})


def _decode(text: str) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return text


def to_yaml(meta: ExportMeta) -> str:
    import yaml

    return yaml.safe_dump(meta.to_dict(), sort_keys=False, allow_unicode=True)


def from_yaml(text: str) -> ExportMeta:
    import yaml

    return ExportMeta.from_dict(yaml.safe_load(text) or {})
