"""What an exported file says about itself: class names, stride, input size, task, version, date.

Every format stores the same fields, in the layout Ultralytics' runtime and the tools built on its exports
read, so a yoloforge export drops into an existing pipeline:
- ONNX metadata_props (string to string): text as plain text (`task` -> `detect`), `stride` and `batch` as
  digits (`32`), everything else as a Python literal: `names` a dict with int keys (`{0: 'person'}`), `imgsz`
  a list (`[640, 640]`), booleans `True`/`False`. Read back with `ast.literal_eval` (never `eval`).
- TorchScript: the extra file `config.txt` holding one JSON object (names keyed "0", "1", ...).
- OpenVINO: `metadata.yaml` beside the IR (names keyed by int).
Reading is lenient: our own earlier ONNX files (format_version 1: every value a JSON string, `'"detect"'`)
and TorchScript files (extra file `config.json`) load as before; unknown keys are kept in `extra`.
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
FORMAT_VERSION = 2  # 1: ONNX values as JSON strings (read, no longer written)
_TEXT_KEYS = frozenset({"task", "format", "version", "date", "writer", "model", "description", "author", "license"})
_INT_KEYS = frozenset({"stride", "batch", "format_version", "opset", "channels"})


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
        """Plain data (names keyed by int; JSON turns the keys into "0", "1"...), `extra` merged in at the top."""
        d = asdict(self)
        extra = d.pop("extra")
        d["imgsz"] = list(self.imgsz)
        d["names"] = {int(k): str(v) for k, v in self.names.items()}
        return {**extra, **d, "format_version": FORMAT_VERSION}

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
    """ONNX metadata_props in Ultralytics' convention: text plain, integers as digits, the rest Python literals.

    e.g. {"task": "detect", "stride": "32", "batch": "1", "imgsz": "[640, 640]", "names": "{0: 'person'}"}.
    """
    return {k: v if isinstance(v, str) else repr(v) for k, v in meta.to_dict().items()}


def from_strings(props: Mapping[str, str]) -> ExportMeta:
    """Inverse of `to_strings`; also reads our format_version 1 files, whose values are all JSON strings."""
    if props.get("writer") == json.dumps(FORMAT):  # written by yoloforge before format_version 2
        return ExportMeta.from_dict({k: _json_or_text(v) for k, v in props.items()})
    return ExportMeta.from_dict({k: _decode(k, v) for k, v in props.items()})


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _decode(key: str, text: str) -> Any:
    """One metadata_props value: text keys as they are, integers as int, anything else a Python literal or text."""
    if key in _TEXT_KEYS:
        return text
    if key in _INT_KEYS and text.strip().lstrip("-").isdigit():
        return int(text)
    try:
        return ast.literal_eval(text)  # literals only: never eval()
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def to_yaml(meta: ExportMeta) -> str:
    import yaml

    return yaml.safe_dump(meta.to_dict(), sort_keys=False, allow_unicode=True)


def from_yaml(text: str) -> ExportMeta:
    import yaml

    return ExportMeta.from_dict(yaml.safe_load(text) or {})
