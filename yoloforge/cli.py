"""`yoloforge [TASK] MODE key=value ...`: the command line, validated by the same schema as the API.

Only the standard library is imported at the top, so `yoloforge help` and `yoloforge version`
answer without loading torch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
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
    yoloforge login KEY [--url URL]   keep a platform API key (runs with project=OWNER/PROJECT stream there)
    yoloforge logout    forget it
    yoloforge sync [FOLDER ...]       send what runs could not send to the platform before they ended
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


def latest_last(folder: str | Path) -> Path:
    """The most recently written `last.pt` under `folder` (searched recursively), as Ultralytics' bare resume."""
    from yoloforge.errors import ConfigError

    found = [p for p in Path(folder).rglob("last.pt") if p.is_file()] if Path(folder).is_dir() else []
    if not found:
        hint = "name the run's checkpoint: yoloforge train resume model=path/to/weights/last.pt"
        raise ConfigError(f"resume: no last.pt found under {Path(folder).resolve()}; {hint}")
    return max(found, key=lambda p: p.stat().st_mtime)


def _default_model(mode: str, overrides: dict[str, Any]) -> str:
    """The model when none was given: the latest run's last.pt for a bare resume, else yolo11n.yaml."""
    from yoloforge.cfg.user import load_user_settings
    from yoloforge.errors import ConfigError
    from yoloforge.utils.log import LOGGER

    if mode in ("val", "predict", "export"):
        raise ConfigError(f"{mode} needs a trained model: add model=path/to/best.pt")
    if mode == "train" and overrides.get("resume") is True:
        last = latest_last(overrides.get("project") or load_user_settings().runs_dir)
        LOGGER.info("Resuming the most recent run: %s", last)
        return str(last)
    return "yolo11n.yaml"


def run(mode: str, overrides: dict[str, Any]) -> Any:
    """Validate the settings, then hand them to the YOLO facade (the same path as the Python API)."""
    from yoloforge.api import YOLO
    from yoloforge.cfg.resolve import check_keys
    from yoloforge.errors import ConfigError

    check_keys(overrides, "command line")  # a typo fails before any model loads; values are checked once, below
    task = overrides.pop("task", "detect")
    if task != "detect":
        raise ConfigError(f"task={task}: yoloforge trains, validates and predicts detect models only")
    model = overrides.pop("model", None) or _default_model(mode, overrides)
    yolo = YOLO(model)
    yolo.origin = "command line"
    if mode == "info":
        given = {"imgsz": overrides["imgsz"]} if "imgsz" in overrides else {}
        size = yolo._settings("info", given).config.long_side if given else 640  # not the checkpoint's train size
        return yolo.info(imgsz=size)
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
    """Entry point of the `yoloforge` console script; returns the exit code.

    Every error a user can fix is one line on stderr (exit 2 for a mistake in the command, 1 otherwise); a
    reader that goes away (`yoloforge settings | head -1`) ends the command quietly.
    """
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        _silence_stdout()
        return 141  # what a shell reports for a process ended by SIGPIPE


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _main(argv: list[str]) -> int:
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
    if argv[0] in ("login", "logout"):
        from yoloforge.remote.auth import login_main, logout_main

        return (login_main if argv[0] == "login" else logout_main)(argv[1:])
    if argv[0] == "sync":
        from yoloforge.remote.sync import sync_main
        from yoloforge.utils.log import setup_logging

        setup_logging(verbose=True)
        return sync_main(argv[1:])
    if argv[0] in EXTERNAL_COMMANDS:
        return run_external(argv[0], argv[1:])
    from yoloforge.engine.train.stop import TrainingStopped
    from yoloforge.errors import ConfigError, YoloforgeError
    from yoloforge.utils.log import setup_logging

    try:
        mode, overrides = parse_args(argv)
        setup_logging(verbose=overrides.get("verbose", True) is not False)
        run(mode, overrides)
    except (UsageError, ConfigError) as e:
        return _error(e, 2)
    except YoloforgeError as e:
        return _error(e, _exit_code(e))
    except _PATH_MISTAKES as e:  # e.g. project= naming a file, a folder without write permission
        return _error(f"{e.strerror}: {e.filename}" if e.filename else e, 2)
    except RuntimeError as e:
        from yoloforge.engine.distributed import DistributedRunError

        if not isinstance(e, DistributedRunError):
            raise
        return _error(e, 1)  # a training process failed: its own traceback is above
    except TrainingStopped as e:  # graceful stop: the trainer has saved last.pt and logged the resume command
        return e.exit_code
    except KeyboardInterrupt:
        print("yoloforge: interrupted", file=sys.stderr)
        return 130
    return 0


# OSErrors that mean a path the user gave is wrong (not a bug, not a full disk): one line, exit 2.
_PATH_MISTAKES = (NotADirectoryError, IsADirectoryError, FileExistsError, PermissionError, FileNotFoundError)


def _exit_code(e: Exception) -> int:
    """2 for input the user can fix (a value, a file, a dataset: our ValueError kinds), 1 when the run itself
    failed (a download that did not arrive, training that diverged, an export tool)."""
    from yoloforge.data.download import DownloadError
    from yoloforge.nn.pretrained import WeightsDownloadError

    if isinstance(e, DownloadError | WeightsDownloadError):
        return 1
    return 2 if isinstance(e, ValueError) else 1


def _error(message: object, code: int) -> int:
    print(f"yoloforge: error: {message}", file=sys.stderr)
    return code
