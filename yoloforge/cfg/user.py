"""Per-user settings: where datasets, runs and weights live, which experiment loggers run, the platform.

They live in `settings.yaml` in the user's config folder: $YOLOFORGE_CONFIG_DIR, else
$XDG_CONFIG_HOME/yoloforge, else ~/.config/yoloforge. Precedence: environment (YOLOFORGE_<KEY>, e.g.
YOLOFORGE_DATASETS_DIR=/data or YOLOFORGE_TENSORBOARD=0) over the file over the defaults.

Read on demand, never at import, and reading never writes: the file appears only when the user changes
a setting (`yoloforge settings key=value`), and it holds only the keys the user set, so an untouched
default follows future releases. The one exception: a corrupt file (bad YAML, a wrong type) is reported,
moved aside to settings.yaml.corrupt-<timestamp>, and the defaults apply, so a bad edit never blocks
training. Unknown keys in the file (say, written by a newer release) are ignored with a warning.

Logger defaults: TensorBoard on (it writes a small events file into the run folder and needs no account);
MLflow, Comet, ClearML and W&B off (each creates its own store or needs an account: opt in).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from yoloforge.errors import ConfigError
from yoloforge.utils.log import LOGGER

SETTINGS_FILE = "settings.yaml"
ENV_PREFIX = "YOLOFORGE_"
_warned: set[str] = set()


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "yoloforge"


def config_dir() -> Path:
    """The folder holding settings.yaml, resolved now (never cached: tests and users may change the env)."""
    if os.environ.get("YOLOFORGE_CONFIG_DIR"):
        return Path(os.environ["YOLOFORGE_CONFIG_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser() / "yoloforge"


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


class UserSettings(BaseModel):
    """Settings of this user on this machine (not of a run: those are `RunConfig`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    datasets_dir: Path = Field(
        default_factory=lambda: _data_home() / "datasets", description="Where datasets are downloaded and looked up."
    )
    runs_dir: Path = Field(Path("runs"), description="Where runs go without project= (relative to the current folder).")
    weights_dir: Path = Field(
        default_factory=lambda: _data_home() / "weights", description="Where downloaded pretrained weights are kept."
    )
    tensorboard: bool = Field(True, description="Log training to TensorBoard (events file in the run folder).")
    mlflow: bool = Field(False, description="Log training to MLflow ($MLFLOW_TRACKING_URI, else a store in the run).")
    comet: bool = Field(False, description="Log training to Comet (offline archive unless an API key is set).")
    clearml: bool = Field(False, description="Log training to ClearML (offline session unless ClearML is set up).")
    wandb: bool = Field(False, description="Log training to Weights & Biases (offline unless logged in).")
    platform_url: str = Field("", description="URL of a yoloforge platform server (later issue).")
    api_key: SecretStr = Field(SecretStr(""), description="API key for the platform (shown masked).")

    @field_validator("datasets_dir", "runs_dir", "weights_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()


KEYS = tuple(UserSettings.model_fields)


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        LOGGER.warning(message)


def _move_aside(path: Path, problem: str) -> None:
    """Keep the user's broken file for inspection, under a name that never clashes, and say so."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        path.rename(target)
    except FileNotFoundError:
        return  # another process moved it first
    except OSError as e:
        _warn_once(f"settings file {path} is invalid ({problem}) and could not be moved aside ({e}); using defaults")
        return
    LOGGER.warning("settings file %s is invalid: %s. Moved it to %s; using the defaults.", path, problem, target.name)


def _problem(e: ValidationError, name: Any = str) -> str:
    """'key=value: what is wrong' per error; `name` turns a key into what the user wrote (e.g. the env var)."""
    return "; ".join(f"{name(err['loc'][0])}={err['input']!r}: {err['msg']}" for err in e.errors())


def read_file_values(path: Path | None = None) -> dict[str, Any]:
    """The valid keys stored in the settings file ({} when absent); a corrupt file is moved aside."""
    path = path or settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        _move_aside(path, f"not valid YAML ({str(e).splitlines()[0]})")
        return {}
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        _move_aside(path, f"expected key: value lines, found a {type(raw).__name__}")
        return {}
    unknown = sorted(set(map(str, raw)) - set(KEYS))
    if unknown:
        _warn_once(f"settings file {path}: ignoring unknown key(s) {', '.join(unknown)}")
    values = {k: v for k, v in raw.items() if k in KEYS}
    try:
        UserSettings(**values)
    except ValidationError as e:
        _move_aside(path, _problem(e))
        return {}
    return values


def env_values() -> dict[str, str]:
    """Settings given as YOLOFORGE_<KEY> environment variables (empty ones count as unset)."""
    return {k: os.environ[env_name(k)] for k in KEYS if os.environ.get(env_name(k))}


def resolve_user_settings() -> tuple[UserSettings, dict[str, str]]:
    """The settings and where each value came from: 'default', 'file' or 'env'."""
    file_vals, env_vals = read_file_values(), env_values()
    try:
        settings = UserSettings(**{**file_vals, **env_vals})
    except ValidationError as e:
        raise ConfigError(f"invalid user setting in the environment: {_problem(e, env_name)}") from None
    sources = {k: "env" if k in env_vals else "file" if k in file_vals else "default" for k in KEYS}
    return settings, sources


def load_user_settings() -> UserSettings:
    """Resolve the user settings now (environment > settings file > defaults)."""
    return resolve_user_settings()[0]


def _check_keys(keys: Any) -> None:
    from yoloforge.cfg.resolve import did_you_mean

    for key in keys:
        if key not in KEYS:
            hint = did_you_mean(str(key), KEYS) or f"; settings are: {', '.join(KEYS)}"
            raise ConfigError(f"unknown user setting '{key}'{hint}")


def _plain(value: Any) -> Any:
    """A value as it is stored in YAML (paths as text, the secret in clear: the file is private, mode 0600)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value) if isinstance(value, Path) else value


def _write(path: Path, values: dict[str, Any]) -> None:
    from yoloforge.utils.io import atomic_write_text

    header = "# yoloforge user settings. Change with `yoloforge settings key=value`; list with `yoloforge settings`.\n"
    # private to the user (it may hold api_key)
    atomic_write_text(path, header + yaml.safe_dump(values, sort_keys=False, allow_unicode=True), mode=0o600)


def save_user_settings(changes: dict[str, Any]) -> UserSettings:
    """Validate `changes` on top of the file's values and write the file atomically; returns the file's settings."""
    _check_keys(changes)
    path = settings_path()
    merged = {**read_file_values(path), **changes}
    try:
        settings = UserSettings(**merged)
    except ValidationError as e:
        raise ConfigError(f"invalid user setting: {_problem(e)}") from None
    _write(path, {k: _plain(getattr(settings, k)) for k in KEYS if k in merged})
    return settings


def reset_user_settings(keys: list[str] | None = None) -> Path | None:
    """Back to the defaults: every key (the file is removed) or only `keys`. Returns the file if it remains."""
    path = settings_path()
    if keys:
        _check_keys(keys)
        values = {k: v for k, v in read_file_values(path).items() if k not in keys}
        if values:
            _write(path, values)
            return path
    path.unlink(missing_ok=True)
    return None
