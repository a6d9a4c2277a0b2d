"""`yoloforge settings`: show, change and reset the per-user settings (see cfg/user.py).

    yoloforge settings                      every setting, its value and its source (default, file, env)
    yoloforge settings key=value ...        validate, then write settings.yaml atomically
    yoloforge settings reset [key ...]      back to the defaults (all keys, or only those named)

Relative folders given here are stored as absolute paths (resolved against the current folder), because
the settings apply wherever yoloforge runs later. Exit codes: 0 done, 2 bad key or value.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

USAGE = __doc__.split("\n\n")[1].rstrip() + "\n"
PATH_KEYS = ("datasets_dir", "runs_dir", "weights_dir")


def mask(secret: str) -> str:
    """Enough of a key to tell two apart, never enough to use it."""
    if not secret:
        return "(not set)"
    return "****" if len(secret) <= 8 else f"****{secret[-4:]}"


def _shown(key: str, value: Any) -> str:
    if key == "api_key":
        return mask(value.get_secret_value())
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if value != "" else "(not set)"


def show() -> int:
    from yoloforge.cfg.user import KEYS, env_name, resolve_user_settings, settings_path

    settings, sources = resolve_user_settings()
    path = settings_path()
    state = "" if path.exists() else " (absent: the values below are defaults or from the environment)"
    print(f"Settings file: {path}{state}")
    width = max(len(k) for k in KEYS)
    values = {k: _shown(k, getattr(settings, k)) for k in KEYS}
    vwidth = max(len(v) for v in values.values())
    for key in KEYS:
        source = f"env ({env_name(key)})" if sources[key] == "env" else sources[key]
        print(f"  {key:<{width}}  {values[key]:<{vwidth}}  {source}")
    print("Change with `yoloforge settings key=value`, reset with `yoloforge settings reset [key ...]`;"
          " YOLOFORGE_<KEY> environment variables override both.")  # fmt: skip
    return 0


def _parse(tokens: list[str]) -> dict[str, Any]:
    """key=value tokens into changes; paths made absolute so they mean the same from any folder."""
    from yoloforge.cfg.resolve import did_you_mean
    from yoloforge.cfg.user import KEYS
    from yoloforge.errors import ConfigError

    changes: dict[str, Any] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        key = key.strip().lstrip("-")
        if not sep:
            hint = did_you_mean(key, [*KEYS, "reset", "help"]) or "; write key=value, e.g. datasets_dir=~/datasets"
            raise ConfigError(f"unexpected argument '{token}'{f'; write {key}=<value>' if key in KEYS else hint}")
        value = value.strip()
        if key in PATH_KEYS:
            if not value:
                raise ConfigError(f"{key} needs a folder; `yoloforge settings reset {key}` restores the default")
            value = str(Path(value).expanduser().absolute())
        changes[key] = value
    return changes


def change(tokens: list[str]) -> int:
    from yoloforge.cfg.user import env_name, env_values, save_user_settings, settings_path

    changes = _parse(tokens)
    settings = save_user_settings(changes)
    print(f"Saved to {settings_path()}:")
    overridden = env_values()
    for key in changes:
        note = f"  (but {env_name(key)} in the environment overrides it)" if key in overridden else ""
        print(f"  {key}={_shown(key, getattr(settings, key))}{note}")
    return 0


def reset(keys: list[str]) -> int:
    from yoloforge.cfg.user import reset_user_settings, settings_path

    remaining = reset_user_settings(keys or None)
    what = ", ".join(keys) if keys else "every setting"
    if remaining is None:
        print(f"Reset {what} to the default; {settings_path()} no longer exists (nothing left to store).")
    else:
        print(f"Reset {what} to the default in {remaining}.")
    return 0


def run_settings_command(args: list[str]) -> int:
    """Entry point of `yoloforge settings ...`; returns the exit code."""
    from yoloforge.errors import ConfigError
    from yoloforge.utils.log import setup_logging

    setup_logging(verbose=True)  # so a corrupt settings file is reported on the terminal
    try:
        if not args:
            return show()
        if args[0] in ("help", "-h", "--help"):
            print(USAGE, end="")
            return 0
        if args[0] == "reset":
            return reset(args[1:])
        return change(args)
    except ConfigError as e:
        print(f"yoloforge: error: {e}", file=sys.stderr)
        return 2
