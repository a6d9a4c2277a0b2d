"""`yoloforge [TASK] MODE key=value ...`: the command line, validated by the same schema as the API.

Only the standard library is imported at the top, so `yoloforge help` and `yoloforge version`
answer without loading torch.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

TASKS = ("detect",)
OTHER_TASKS = ("segment", "classify", "pose", "obb")
MODES = ("train", "val", "predict", "export", "info")
COMMANDS = ("help", "version", "cfg")
# commands served by optional parts, imported only when called: name -> (module:function, pip extra)
EXTERNAL_COMMANDS = {"server": ("yoloforge.platform.cli:main", "platform")}

HELP = """\
yoloforge: train YOLO object detectors on your own data.

Usage:
    yoloforge [TASK] MODE key=value ...

    TASK   detect (the default; the only task for now)
    MODE   train, val, predict, export, or info (print a model's layers, parameters, GFLOPs)
    key=value   any setting; `yoloforge cfg` lists them all with defaults and help

Examples:
    yoloforge detect train data=coco8.yaml model=yolo11n.yaml epochs=100 imgsz=640
    yoloforge train resume model=runs/detect/train/weights/last.pt
    yoloforge val model=best.pt data=coco128.yaml batch=16
    yoloforge predict model=best.pt source=path/to/images
    yoloforge export model=best.pt format=onnx
    yoloforge info model=yolo11n.yaml

Values are read as YAML: device=0,1  classes=[0,2]  amp=false  lr0=1e-3  cfg=my_settings.yaml

Other commands:
    yoloforge help      this text
    yoloforge version   the installed version
    yoloforge cfg       every setting with its default and help
    yoloforge settings  your per-user settings (folders, loggers); key=value changes them, reset restores them
    yoloforge server    the self-hosted platform (`yoloforge server --help`; needs yoloforge[platform])
"""


class UsageError(Exception):
    """The command line itself is malformed."""


def parse_args(argv: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Split argv into a mode and raw key=value overrides (values parsed as YAML scalars)."""
    from yoloforge.cfg.resolve import did_you_mean, parse_value

    mode: str | None = None
    overrides: dict[str, Any] = {}
    for i, token in enumerate(argv):
        if "=" in token:
            key, _, text = token.partition("=")
            key = key.strip().lstrip("-")
            if not key:
                raise UsageError(f"'{token}' has no key before '='")
            overrides[key] = parse_value(key, text.strip())
        elif token in TASKS and i == 0:
            overrides["task"] = token
        elif token in OTHER_TASKS:
            raise UsageError(f"task '{token}' is not supported yet: yoloforge trains detect models")
        elif token in MODES and mode is None:
            mode = token
        elif token == "resume":
            overrides["resume"] = True
        else:
            hint = did_you_mean(token, [*MODES, *COMMANDS, "resume"])
            raise UsageError(f"unexpected argument '{token}'{hint or '; settings are written key=value'}")
    if mode is None:
        raise UsageError(f"no mode given: expected one of {', '.join(MODES)} (try 'yoloforge help')")
    return mode, overrides


def print_cfg() -> None:
    """All settings grouped, as YAML with help comments, ready to copy into a cfg file."""
    import yaml

    from yoloforge.cfg.schema import RunConfig, field_group

    groups: dict[str, list[str]] = {}
    for name, field in RunConfig.model_fields.items():
        value = yaml.safe_dump({name: field.default}, default_flow_style=True, width=1000).strip()[1:-1]
        groups.setdefault(field_group(name), []).append(f"{value:<32} # {field.description}")
    for group, lines in groups.items():
        print(f"# --- {group} ---")
        print("\n".join(lines))


def run(mode: str, overrides: dict[str, Any]) -> Any:
    """Validate the settings, then hand them to the YOLO facade (the same path as the Python API)."""
    from yoloforge.api import YOLO
    from yoloforge.cfg.resolve import check_keys
    from yoloforge.errors import ConfigError

    check_keys(overrides, "command line")  # a typo fails before any model loads; values are checked once, below
    model = overrides.pop("model", None)
    if model is None:
        if mode in ("val", "predict", "export"):
            raise ConfigError(f"{mode} needs a trained model: add model=path/to/best.pt")
        model = "yolo11n.yaml"
    overrides.pop("task", None)
    yolo = YOLO(model)
    if mode == "info":
        return yolo.info(imgsz=yolo._settings("info", overrides).config.long_side)
    if mode == "predict":
        for _ in yolo.predict(stream=True, **{"save": True, **overrides}):
            pass  # streamed: a large folder never sits in memory
        return None
    return getattr(yolo, mode)(**overrides)


def run_external(name: str, argv: list[str]) -> int:
    """Run an optional part's command (e.g. `server`) by module path, so the library never imports it."""
    import importlib

    target, extra = EXTERNAL_COMMANDS[name]
    module_name, _, func = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        missing = e.name or "a dependency"
        if missing.startswith("yoloforge") and not module_name.startswith(missing):
            raise
        print(
            f"yoloforge: error: 'yoloforge {name}' needs {missing}, which is not installed: "
            f"pip install yoloforge[{extra}]",
            file=sys.stderr,
        )
        return 2
    return int(getattr(module, func)(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `yoloforge` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("help", "-h", "--help"):
        print(HELP, end="")
        return 0
    if argv[0] in ("version", "-V", "--version"):
        from yoloforge import __version__

        print(__version__)
        return 0
    if argv[0] == "cfg":
        print_cfg()
        return 0
    if argv[0] == "settings":
        from yoloforge.cfg.user_cli import run_settings_command

        return run_settings_command(argv[1:])
    if argv[0] in EXTERNAL_COMMANDS:
        return run_external(argv[0], argv[1:])
    from yoloforge.errors import ConfigError, YoloforgeError
    from yoloforge.utils.log import setup_logging

    try:
        mode, overrides = parse_args(argv)
        setup_logging(verbose=overrides.get("verbose", True) is not False)
        run(mode, overrides)
    except (UsageError, ConfigError) as e:
        print(f"yoloforge: error: {e}", file=sys.stderr)
        return 2
    except YoloforgeError as e:
        print(f"yoloforge: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("yoloforge: interrupted", file=sys.stderr)
        return 130
    return 0
