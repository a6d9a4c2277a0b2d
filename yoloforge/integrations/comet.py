"""Comet: an online experiment when an API key is configured, else an offline archive in `<run>/comet`.

Offline is chosen when COMET_MODE=offline or no API key is found (COMET_API_KEY or ~/.comet.config);
the archive goes to $COMET_OFFLINE_DIRECTORY, else `<run>/comet/<id>.zip`, and `comet upload <zip>` sends
it later. A Comet experiment you started yourself is used and left open. Project: $COMET_PROJECT_NAME, else
the project folder's name; experiment name: the run folder's name. Comet's automatic logging (code, git,
environment, console, system metrics, and patching of torch, which needs COMET_DISABLE_AUTO_LOGGING=1 set
before comet_ml is imported: yoloforge sets it unless you did) is off: yoloforge sends what it knows.

Sends the settings as parameters, per epoch the results.csv numbers (names unchanged; step and epoch =
the epoch), and at the end the final metrics, the plots as images, results.csv and args.yaml as assets,
and best.pt as the model 'best'.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from yoloforge.integrations.base import (
    RunLogger,
    best_weights,
    epoch_step,
    final_scalars,
    run_files,
    run_images,
    run_names,
    run_params,
)

QUIET = {
    "log_code": False, "log_graph": False, "auto_param_logging": False, "auto_metric_logging": False,
    "parse_args": False, "auto_output_logging": None, "log_env_details": False, "log_git_metadata": False,
    "log_git_patch": False, "log_env_gpu": False, "log_env_host": False, "log_env_cpu": False,
    "display_summary_level": 0,
}  # fmt: skip


def _api_key() -> str | None:
    import comet_ml

    try:
        return comet_ml.get_config()["comet.api_key"]
    except Exception:
        return os.environ.get("COMET_API_KEY")


class CometLogger(RunLogger):
    name = "comet"

    def __init__(self) -> None:
        super().__init__()
        self.experiment: Any = None
        self.own = False

    def start(self, trainer: Any) -> str:
        os.environ.setdefault("COMET_DISABLE_AUTO_LOGGING", "1")  # before the import: no patching of torch
        import comet_ml

        running = getattr(comet_ml, "get_running_experiment", lambda: None)()
        self.own = running is None
        self.experiment = running or self._create(trainer)
        self.experiment.log_parameters(run_params(trainer))
        directory = getattr(self.experiment, "offline_directory", None)
        return f"offline in {directory}" if directory else str(self.experiment.url)

    def _create(self, trainer: Any) -> Any:
        import comet_ml

        save_dir = Path(trainer.save_dir)
        project, name = run_names(trainer, "COMET_PROJECT_NAME")
        if os.environ.get("COMET_MODE", "").lower() == "offline" or not _api_key():
            directory = os.environ.get("COMET_OFFLINE_DIRECTORY") or str(save_dir / "comet")
            experiment = comet_ml.OfflineExperiment(project_name=project, offline_directory=directory, **QUIET)
        else:
            experiment = comet_ml.Experiment(project_name=project, **QUIET)
        experiment.set_name(name)
        return experiment

    def log_epoch(self, trainer: Any, step: int, scalars: dict[str, float]) -> None:
        self.experiment.log_metrics(scalars, step=step, epoch=step)

    def finish(self, trainer: Any) -> None:
        step = epoch_step(trainer)
        self.experiment.log_metrics(final_scalars(trainer), step=step, epoch=step)
        for path in run_images(trainer.save_dir):
            self.experiment.log_image(str(path), name=path.stem, step=step)
        for path in run_files(trainer.save_dir):
            self.experiment.log_asset(str(path), file_name=path.name, step=step)
        best = best_weights(trainer)
        if best is not None:
            self.experiment.log_model("best", str(best), file_name=best.name)

    def close(self, trainer: Any, failed: bool) -> None:
        if self.experiment is not None and self.own:
            self.experiment.end()
        self.experiment = None
