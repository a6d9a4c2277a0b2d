"""Weights & Biases: an online run when you are logged in, else an offline run in `<run>/wandb/`.

Mode: $WANDB_MODE if set, else online when an API key is found (WANDB_API_KEY, or the netrc entry that
`wandb login` writes), else offline: `wandb sync <run>/wandb/offline-run-*` uploads it later. A run you
started yourself (`wandb.init`) is used and left open. Project: $WANDB_PROJECT, else the project folder's
name; run name: the run folder's name. Console capture and system metrics are off.

Sends the settings as the run config, per epoch the results.csv numbers (names unchanged, '/' makes
sections; step = the epoch), and at the end the final metrics in the run summary, the plots as images
(`plots/<name>`) and best.pt as a 'model' artifact (aliases best, final).
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from yoloforge.integrations.base import (
    RunLogger,
    best_weights,
    epoch_step,
    final_scalars,
    run_images,
    run_names,
    run_params,
)


def _logged_in() -> bool:
    """Whether W&B has an API key here, checked without asking W&B (which may prompt)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or ""
    try:
        return netrc.netrc(os.environ.get("NETRC") or None).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _settings(wandb: Any) -> Any:
    try:
        return wandb.Settings(console="off", x_disable_stats=True, silent=True)
    except Exception:  # older wandb
        return wandb.Settings(console="off", silent=True)


class WandbLogger(RunLogger):
    name = "wandb"

    def __init__(self) -> None:
        super().__init__()
        self.run: Any = None
        self.own = False

    def start(self, trainer: Any) -> str:
        import wandb

        self.own = wandb.run is None
        if self.own:
            save_dir = Path(trainer.save_dir)
            mode = os.environ.get("WANDB_MODE") or ("online" if _logged_in() else "offline")
            project, name = run_names(trainer, "WANDB_PROJECT")
            self.run = wandb.init(project=project, name=name, dir=str(save_dir), mode=mode, config=run_params(trainer),
                                  settings=_settings(wandb))  # fmt: skip
        else:
            self.run = wandb.run
            self.run.config.update(run_params(trainer), allow_val_change=True)
        if self.run.settings.mode in ("offline", "dryrun") or getattr(self.run, "offline", False):
            return f"offline in {Path(self.run.dir).parent}"
        return str(self.run.url)

    def _log(self, values: dict[str, Any], step: int) -> None:
        # our own run counts steps in epochs; a run the user started keeps its own step counter
        self.run.log(values, **({"step": step} if self.own else {}))

    def log_epoch(self, trainer: Any, step: int, scalars: dict[str, float]) -> None:
        self._log({**scalars, "epoch": step}, step)

    def finish(self, trainer: Any) -> None:
        import wandb

        step = epoch_step(trainer)
        self.run.summary.update(final_scalars(trainer))
        images = {f"plots/{p.stem}": wandb.Image(str(p)) for p in run_images(trainer.save_dir)}
        if images:
            self._log(images, step)
        best = best_weights(trainer)
        if best is not None:
            artifact = wandb.Artifact(f"run_{self.run.id}_model", type="model")
            artifact.add_file(str(best), name=best.name)
            self.run.log_artifact(artifact, aliases=["best", "final"])

    def close(self, trainer: Any, failed: bool) -> None:
        if self.run is not None and self.own:
            self.run.finish(exit_code=1 if failed else 0)
        self.run = None
