"""Build a DetectionModel from a model YAML: a file path, a packaged name, or an already-loaded dict.

Packaged names carry the scale in the file name: `yolo11n.yaml` is `cfg/models/yolo11.yaml` at
scale `n`. The same rule applies to files on disk (`runs/my/yolov8s.yaml` -> `runs/my/yolov8.yaml`).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from yoloforge.errors import YoloforgeError
from yoloforge.nn.model import DetectionModel, Source
from yoloforge.nn.registry import LAYERS, BuildContext, build_layer, known_layers

LOGGER = logging.getLogger(__name__)

_SCALED_STEM = re.compile(r"^(?P<base>.*\d)(?P<scale>[a-z])$")  # yolo11n -> yolo11 + n
_YAML_SUFFIXES = (".yaml", ".yml")
# Scales at which every C3k2 uses C3k inner blocks when a YAML has no `c3k_scales` key: the rule
# published YOLO11 configs (and checkpoints made from them) follow. Set `c3k_scales: []` to opt out.
_DEFAULT_C3K_SCALES = ("m", "l", "x")


class ModelConfigError(YoloforgeError, ValueError):
    """A model YAML cannot be found, parsed or built; the message names the file and what is valid."""


def packaged_models() -> Traversable:
    """Folder of the model YAMLs shipped inside the package."""
    return resources.files("yoloforge.cfg").joinpath("models")


def available_models() -> list[str]:
    """Packaged model names, each with and without a scale letter (e.g. yolo11.yaml, yolo11n.yaml)."""
    names = []
    for entry in packaged_models().iterdir():
        if entry.name.endswith(_YAML_SUFFIXES):
            names.append(entry.name)
            scales = yaml.safe_load(entry.read_text(encoding="utf-8")).get("scales") or {}
            stem, suffix = entry.name.rsplit(".", 1)
            names.extend(f"{stem}{s}.{suffix}" for s in scales)
    return sorted(names)


def load_model_config(cfg: str | Path | Mapping[str, Any], scale: str | None = None) -> dict[str, Any]:
    """Read and validate a model YAML; return a dict with `scale`, `name` and `yaml_file` filled in."""
    if isinstance(cfg, Mapping):
        data, label, requested = copy.deepcopy(dict(cfg)), str(cfg.get("yaml_file", "<dict>")), None
    else:
        data, label, requested = _read_yaml(cfg)
    if not isinstance(data, dict):
        raise ModelConfigError(f"{label}: expected a mapping with 'backbone' and 'head', got {type(data).__name__}")
    data["scale"] = _pick_scale(data, scale or requested or data.get("scale"), label)
    data["yaml_file"] = label
    data["name"] = _display_name(label, data["scale"], data.get("scales") or {})
    _check_rows(data, label)
    return data


def build_model(
    cfg: str | Path | Mapping[str, Any],
    nc: int | None = None,
    ch: int = 3,
    names: Sequence[str] | Mapping[int, str] | None = None,
    scale: str | None = None,
) -> DetectionModel:
    """Build a freshly initialised DetectionModel.

    `nc` overrides the YAML's class count (it follows the dataset); with only `names` given, nc is
    len(names). `scale` overrides the scale named in the file name or YAML.
    """
    data = load_model_config(cfg, scale)
    label = data["yaml_file"]
    if names is not None:
        names = dict(names) if isinstance(names, Mapping) else dict(enumerate(names))
        nc = len(names) if nc is None else nc
        if len(names) != nc:
            raise ModelConfigError(f"{label}: {len(names)} class names given for nc={nc}")
    if nc is not None and nc != data.get("nc"):
        LOGGER.info("%s: overriding nc=%s with nc=%d", label, data.get("nc"), nc)
        data["nc"] = nc
    if not isinstance(data.get("nc"), int) or data["nc"] < 1:
        raise ModelConfigError(f"{label}: nc must be a positive integer, got {data.get('nc')!r}")
    data["channels"] = ch
    layers, sources = _build_layers(data, ch, label)
    return DetectionModel(layers, sources, data, ch=ch, names=names)


class _Found(NamedTuple):
    """A located model YAML: the file, a label for messages, and the scale its requested name implies."""

    entry: Path | Traversable
    label: str
    scale: str | None
    explicit: bool  # scale came from stripping a letter off the requested name (so it must be valid)


def _read_yaml(cfg: str | Path) -> tuple[Any, str, str | None]:
    """Locate and parse a YAML; returns (data, label for messages, scale taken from the file name)."""
    path = Path(cfg)
    if not path.name.endswith(_YAML_SUFFIXES):
        path = path.with_name(path.name + ".yaml")
    found = _locate(path)
    if found is None:
        raise ModelConfigError(
            f"model config {str(cfg)!r} not found: no such file and no packaged model of that name. "
            f"Packaged models: {', '.join(available_models())}"
        )
    try:
        data = yaml.safe_load(found.entry.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ModelConfigError(f"{found.label}: not valid YAML: {err}") from err
    scales = data.get("scales") if isinstance(data, dict) else None
    keep = found.explicit or found.scale in (scales or {})
    return data, found.label, found.scale if keep else None


def _locate(path: Path) -> _Found | None:
    """Find the file for `path`: as given, then with the scale letter removed; on disk, then packaged.

    A letter at the end of an existing file's own name is only a hint (`custom_v2a.yaml` need not
    mean scale `a`); packaged files are labelled by bare name so configs stay install-independent.
    """
    stem, suffix = path.name.rsplit(".", 1)
    match = _SCALED_STEM.match(stem)
    letter = match["scale"] if match else None
    candidates: list[tuple[str, bool]] = [(path.name, False)]
    if match:
        candidates.append((f"{match['base']}.{suffix}", True))
    folders: list[tuple[Path | Traversable, bool]] = [(path.parent, False)]
    if path.parent == Path("."):
        folders.append((packaged_models(), True))
    for folder, packaged in folders:
        for name, explicit in candidates:
            entry = folder / name
            if entry.is_file():
                return _Found(entry, name if packaged else str(entry), letter, explicit)
    return None


def _pick_scale(data: dict[str, Any], wanted: str | None, label: str) -> str | None:
    scales = data.get("scales")
    if not scales:
        if wanted is not None and wanted != data.get("scale"):
            raise ModelConfigError(f"{label}: scale {wanted!r} requested but the file defines no 'scales'")
        return None
    if wanted is None:
        wanted = "n" if "n" in scales else next(iter(scales))
        LOGGER.warning("%s: no scale given, using scale %r (valid: %s)", label, wanted, ", ".join(scales))
    if wanted not in scales:
        raise ModelConfigError(f"{label}: unknown scale {wanted!r}; valid scales: {', '.join(scales)}")
    return wanted


def _display_name(label: str, scale: str | None, scales: Mapping[str, Any]) -> str:
    """Short model name for summaries: the file stem with the scale letter (`yolo11` + `n`)."""
    stem = "model" if label == "<dict>" else Path(label).name.rsplit(".", 1)[0]
    match = _SCALED_STEM.match(stem)
    if match and match["scale"] in scales:  # the label already names a scale: swap it
        stem = match["base"]
    return f"{stem}{scale or ''}"


def _check_rows(data: dict[str, Any], label: str) -> None:
    """Validate the shape of every row so build errors point at the offending line of the file."""
    index = 0
    for section in ("backbone", "head"):
        rows = data.get(section)
        if not isinstance(rows, list) or not rows:
            raise ModelConfigError(f"{label}: '{section}' must be a non-empty list of [from, repeats, module, args]")
        for row in rows:
            where = f"{label}: {section} layer {index}"
            if not isinstance(row, list) or len(row) != 4:
                raise ModelConfigError(f"{where}: expected [from, repeats, module, args], got {row!r}")
            src, repeats, module, args = row
            if module not in LAYERS:
                raise ModelConfigError(
                    f"{where}: unknown module {module!r}; valid modules: {', '.join(known_layers())}"
                )
            if not isinstance(repeats, int) or repeats < 1 or not isinstance(args, list):
                raise ModelConfigError(f"{where}: repeats must be an integer >= 1 and args a list, got {row!r}")
            if not _valid_sources(src, index):
                raise ModelConfigError(f"{where}: 'from' must refer to earlier layers, got {src!r}")
            index += 1
    if data["head"][-1][2] != "Detect":
        raise ModelConfigError(f"{label}: the last head layer must be Detect, got {data['head'][-1][2]!r}")


def _valid_sources(src: Any, index: int) -> bool:
    """`from` is -1 (previous layer / the image) or indices of earlier layers (negative = relative)."""
    refs = [src] if isinstance(src, int) else src
    if not isinstance(refs, list) or not refs:
        return False
    return all(isinstance(j, int) and (j == -1 or -index <= j < index) for j in refs)


def _build_layers(data: dict[str, Any], ch: int, label: str) -> tuple[list[Any], list[Source]]:
    """Instantiate every row in order, tracking each layer's output width for later rows."""
    scales = data.get("scales") or {}
    depth, width, max_channels = scales.get(data["scale"], (1.0, 1.0, float("inf")))
    ctx = BuildContext(
        depth=depth,
        width=width,
        max_channels=max_channels,
        nc=data["nc"],
        force_c3k=data["scale"] in (data.get("c3k_scales", _DEFAULT_C3K_SCALES) or ()),
    )
    widths: list[int] = []
    layers, sources = [], []
    for i, (src, repeats, module, args) in enumerate(data["backbone"] + data["head"]):
        refs = [src] if isinstance(src, int) else src
        c_in = [(widths[j] if widths else ch) if j == -1 else widths[j] for j in refs]
        try:
            built = build_layer(module, c_in, repeats, args, ctx)
        except (TypeError, ValueError, IndexError) as err:
            raise ModelConfigError(f"{label}: layer {i} ({module} {args}): {err}") from err
        layers.append(built.module)
        sources.append(src)
        widths.append(built.c_out)
    return layers, sources
