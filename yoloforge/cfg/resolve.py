"""Merge settings from their sources into one validated, frozen `RunConfig`.

Order, lowest first: defaults < model file < dataset file < cfg file < call/CLI. Each resolved
value remembers where it came from, so an error can say "epochs=0 (from the command line)".
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from yoloforge.cfg.schema import RunConfig
from yoloforge.errors import ConfigError

Layer = tuple[str, Mapping[str, Any] | None]


@dataclass(frozen=True)
class Resolved:
    """The validated settings and the source of every value that is not a default."""

    config: RunConfig
    sources: dict[str, str]


def did_you_mean(key: str, choices: Sequence[str]) -> str:
    """A hint naming the closest valid key, or '' when nothing is close."""
    close = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.6)
    return f": did you mean '{close[0]}'?" if close else ""


def check_keys(values: Mapping[str, Any], source: str) -> None:
    """Fail on the first unknown key, suggesting the closest valid one."""
    fields = list(RunConfig.model_fields)
    for key in values:
        if key not in RunConfig.model_fields:
            hint = did_you_mean(key, fields) or ". Run 'yoloforge cfg' to list every setting"
            raise ConfigError(f"unknown setting '{key}' ({source}){hint}")


def load_cfg_file(path: str | Path) -> dict[str, Any]:
    """Read a `cfg=` YAML file of settings; errors name the file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"cfg file not found: {p.resolve()} (from cfg={path})")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"cfg file {p} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"cfg file {p} must hold a mapping of settings (key: value), not {type(data).__name__}")
    return data


def _str_only(key: str) -> bool:
    """True when a setting accepts text but no numbers or booleans, so `name=001` stays the text '001' (while
    `resume=True` and `pretrained=false`, of type bool | str, stay booleans)."""
    ann = RunConfig.model_fields[key].annotation
    args = set(typing.get_args(ann)) if isinstance(ann, types.UnionType) or typing.get_origin(ann) else {ann}
    return str in args and not args & {int, float, bool}


def parse_value(key: str, text: str) -> Any:
    """Parse a CLI value as a YAML scalar or list: `0,1`, `[0,2]`, `true`, `none`, `1e-3`."""
    if key in RunConfig.model_fields and _str_only(key):
        return None if text.lower() in ("none", "null", "") else text
    if text.lower() in ("none", "null"):
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value) if any(c in value.lower() for c in ".e") else int(value)
        except ValueError:
            return value
    return value


def _explain(err: ValidationError, merged: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    """One line per bad setting: key, value, source, what is expected."""
    by_key: dict[str, list[str]] = {}
    for e in err.errors():
        key = str(e["loc"][0]) if e["loc"] else "?"
        msg = e["msg"].removeprefix("Value error, ")
        if msg not in by_key.setdefault(key, []):
            by_key[key].append(msg)
    lines = []
    for key, msgs in by_key.items():
        field = RunConfig.model_fields.get(key)
        where = sources.get(key, "default")
        lines.append(
            f"bad value for '{key}': {merged.get(key)!r} ({where}): {'; or '.join(msgs)}."
            + (f" {key}: {field.description} Default: {field.default!r}." if field else "")
        )
    return "\n".join(lines)


def resolve(*layers: Layer) -> Resolved:
    """Merge layers (lowest priority first) over the defaults and validate once.

    A `cfg` key in any layer inserts that file's settings just below the layer that named it.
    """
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, values in layers:
        if not values:
            continue
        check_keys(values, name)
        cfg_path = values.get("cfg")
        if cfg_path:
            file_values = load_cfg_file(cfg_path)
            check_keys(file_values, f"cfg file {cfg_path}")
            merged.update(file_values)
            sources.update(dict.fromkeys(file_values, f"cfg file {cfg_path}"))
        merged.update(values)
        sources.update(dict.fromkeys(values, name))
    try:
        config = RunConfig(**merged)
    except ValidationError as e:
        raise ConfigError(_explain(e, merged, sources)) from None
    return Resolved(config=config, sources=sources)
