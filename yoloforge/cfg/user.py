"""Per-user settings (folders for datasets, runs and weights).

Read on demand, never at import. Environment variables override the defaults:
YOLOFORGE_DATASETS_DIR, YOLOFORGE_RUNS_DIR, YOLOFORGE_WEIGHTS_DIR. A settings file in the user's
config folder, `yoloforge settings`, and the logger switches arrive with a later issue.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "yoloforge"


@dataclass(frozen=True)
class UserSettings:
    """Where yoloforge keeps things on this machine."""

    datasets_dir: Path
    runs_dir: Path
    weights_dir: Path


def load_user_settings() -> UserSettings:
    """Resolve the user settings from the environment and defaults, at call time."""
    env = os.environ
    return UserSettings(
        datasets_dir=Path(env.get("YOLOFORGE_DATASETS_DIR") or _data_home() / "datasets").expanduser(),
        runs_dir=Path(env.get("YOLOFORGE_RUNS_DIR") or "runs").expanduser(),
        weights_dir=Path(env.get("YOLOFORGE_WEIGHTS_DIR") or _data_home() / "weights").expanduser(),
    )
