"""Run folders: runs/detect/train, train2, train3, ... (or project/name, reused with exist_ok)."""

from __future__ import annotations

from pathlib import Path

from yoloforge.cfg.schema import RunConfig
from yoloforge.cfg.user import load_user_settings


def next_free(path: Path) -> Path:
    """`path` if it is free, else path2, path3, ... (the first that does not exist)."""
    if not path.exists():
        return path
    n = 2
    while (candidate := path.with_name(f"{path.name}{n}")).exists():
        n += 1
    return candidate


def planned_run_dir(cfg: RunConfig, mode: str) -> Path:
    """The folder `run_dir` would create now, without creating it (a concurrent run may still take it)."""
    wanted = _wanted(cfg, mode)
    return wanted if cfg.exist_ok else next_free(wanted)


def _wanted(cfg: RunConfig, mode: str) -> Path:
    project = Path(cfg.project) if cfg.project else load_user_settings().runs_dir / cfg.task
    return project / (cfg.name or mode)


def run_dir(cfg: RunConfig, mode: str) -> Path:
    """The folder for this run; created so a concurrent run cannot take the same number."""
    wanted = _wanted(cfg, mode)
    while True:
        folder = wanted if cfg.exist_ok else next_free(wanted)
        try:
            folder.mkdir(parents=True, exist_ok=cfg.exist_ok)
            return folder
        except FileExistsError:
            continue  # another process took it between the check and mkdir
