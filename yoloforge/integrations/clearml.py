"""ClearML: a task on your ClearML server when ClearML is set up, else an offline session.

Offline is chosen when CLEARML_OFFLINE_MODE is set or no setup is found (no CLEARML_API_ACCESS_KEY, no
$CLEARML_CONFIG_FILE, no ~/clearml.conf). The session is written to ClearML's cache
(~/.clearml/cache/offline/<task id>/ and a .zip beside it); `Task.import_offline_session(<zip>)` uploads
it later. A task you started yourself (`Task.init`) is used and left open. Project: the project folder's
name; task name: the run folder's name. ClearML's framework hooks, repository and package detection,
console capture and resource monitor are off: yoloforge sends what it knows (and closing the task takes
milliseconds, not the 10 s to 5 min that detection can cost). Offline mode, once on, stays on for the rest
of the Python process (ClearML cannot switch back without a server).

Sends the settings as the 'Args' hyperparameters, per epoch each results.csv number as a scalar whose
title/series are the name split at its first '/' (`metrics` / `mAP50-95(B)`), and at the end the final
metrics as single values (`final/mAP50-95(B)`), the plots as debug images, and results.csv, args.yaml and
best.pt as artifacts.
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


def title_series(key: str) -> tuple[str, str]:
    """'metrics/mAP50(B)' -> ('metrics', 'mAP50(B)'); a name without '/' is both title and series."""
    title, sep, series = key.partition("/")
    return (title, series) if sep else (key, key)


def _configured() -> bool:
    config_file = os.environ.get("CLEARML_CONFIG_FILE")
    return bool(os.environ.get("CLEARML_API_ACCESS_KEY")) or (
        Path(config_file).expanduser().is_file() if config_file else (Path.home() / "clearml.conf").is_file()
    )


# Every framework hook off (a key left out counts as on), and no repository/requirements detection: it runs
# git and pip in a thread that Task.close() then waits for, 10 s usually and 300 s when it hangs.
NO_AUTO_CONNECT = dict.fromkeys(
    ("matplotlib", "tensorflow", "tensorboard", "pytorch", "xgboost", "scikit", "fastai", "lightgbm", "hydra",
     "detect_repository", "tfdefines", "joblib", "megengine", "catboost", "gradio"),
    False,
)  # fmt: skip


class ClearMLLogger(RunLogger):
    name = "clearml"

    def __init__(self) -> None:
        super().__init__()
        self.task: Any = None
        self.own = False

    def start(self, trainer: Any) -> str:
        from clearml import Task

        self.task = Task.current_task()
        self.own = self.task is None
        if self.own:
            self.task = self._create(trainer)
        self.task.connect(run_params(trainer), name="Args")
        if Task.is_offline():
            return f"offline in {self.task.get_offline_mode_folder()}"
        return str(self.task.get_output_log_web_page())

    def _create(self, trainer: Any) -> Any:
        from clearml import Task

        if not Task.is_offline() and not _configured():
            Task.set_offline(offline_mode=True)  # for the rest of this process: ClearML cannot go back
        if Task.is_offline() and hasattr(Task, "_report_subprocess_enabled"):
            # offline, the reporting subprocess only makes Task.close() wait 10 s for it: report in a thread
            Task._report_subprocess_enabled = False
        project, name = run_names(trainer)
        return Task.init(
            project_name=project,
            task_name=name,
            reuse_last_task_id=False,
            auto_connect_frameworks=NO_AUTO_CONNECT,
            auto_connect_arg_parser=False,
            auto_connect_streams=False,
            auto_resource_monitoring=False,
        )

    def log_epoch(self, trainer: Any, step: int, scalars: dict[str, float]) -> None:
        logger = self.task.get_logger()
        for key, value in scalars.items():
            title, series = title_series(key)
            logger.report_scalar(title, series, value, iteration=step)

    def finish(self, trainer: Any) -> None:
        logger = self.task.get_logger()
        step = epoch_step(trainer)
        for key, value in final_scalars(trainer).items():
            logger.report_single_value(key, value)
        for path in run_images(trainer.save_dir):
            logger.report_image("plots", path.stem, iteration=step, local_path=str(path))
        best = best_weights(trainer)
        for path in [*run_files(trainer.save_dir), *([best] if best else [])]:
            self.task.upload_artifact(path.name, artifact_object=path, wait_on_upload=True)
        logger.flush()

    def close(self, trainer: Any, failed: bool) -> None:
        from clearml import Task

        if self.task is not None and self.own:
            if failed and not Task.is_offline():
                self.task.mark_failed(status_reason="training stopped with an error", ignore_errors=True)
            self.task.close()
        self.task = None
