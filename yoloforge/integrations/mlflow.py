"""MLflow: a run in $MLFLOW_TRACKING_URI, else in a local file store inside the run folder (`<run>/mlruns`).

View a local store with `mlflow ui --backend-store-uri <run>/mlruns`. If you started an MLflow run yourself
(`mlflow.start_run()`), yoloforge logs into it and leaves it open. Experiment: $MLFLOW_EXPERIMENT_NAME,
else the project folder's name (`detect` for runs/detect/train); run name: the run folder's name.

Sends the run settings as params, per epoch the results.csv numbers with step = epoch, and at the end
the final metrics and, as artifacts, results.csv, args.yaml, the plots (plots/) and best.pt (weights/).
MLflow forbids '(' and ')' in metric names, so `metrics/mAP50-95(B)` becomes `metrics/mAP50-95_B`
(see `metric_name`). Recent MLflow refuses file stores unless MLFLOW_ALLOW_FILE_STORE=true; yoloforge sets
it (if unset) when the store it uses is a local folder.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from yoloforge.integrations.base import (
    RunLogger,
    best_weights,
    epoch_step,
    final_scalars,
    flat_params,
    run_files,
    run_images,
    run_names,
)

BATCH = 100  # MLflow's limit of params per log_batch call
MAX_PARAM_CHARS = 6000


def metric_name(key: str) -> str:
    """An MLflow-legal name: `(B)` -> `_B`, any other disallowed character -> `_`."""
    return re.sub(r"[^\w\-. :/]", "_", key.replace("(", "_").replace(")", ""))


def _is_local(uri: str) -> bool:
    return uri.startswith("file:") or "://" not in uri


class MLflowLogger(RunLogger):
    name = "mlflow"

    def __init__(self) -> None:
        super().__init__()
        self.client: Any = None
        self.run_id = ""
        self.own_run = False

    def start(self, trainer: Any) -> str:
        import mlflow
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        active = mlflow.active_run()
        uri = mlflow.get_tracking_uri() if active else os.environ.get("MLFLOW_TRACKING_URI", "")
        uri = uri or (Path(trainer.save_dir).absolute() / "mlruns").as_uri()
        if _is_local(uri):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        self.own_run = active is None
        self.run_id = active.info.run_id if active else self._create_run(trainer)
        params = [Param(k, str(v)[:MAX_PARAM_CHARS]) for k, v in flat_params(trainer).items()]
        for i in range(0, len(params), BATCH):
            self.client.log_batch(self.run_id, params=params[i : i + BATCH])
        return f"{uri} run {self.run_id}"

    def _create_run(self, trainer: Any) -> str:
        name, run_name = run_names(trainer, "MLFLOW_EXPERIMENT_NAME")
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                experiment_id = self.client.create_experiment(name)
            except Exception:  # another run created it meanwhile
                experiment_id = self.client.get_experiment_by_name(name).experiment_id
        else:
            experiment_id = experiment.experiment_id
        return self.client.create_run(experiment_id, run_name=run_name).info.run_id

    def _log_metrics(self, scalars: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(metric_name(k), float(v), now, step) for k, v in scalars.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def log_epoch(self, trainer: Any, step: int, scalars: dict[str, float]) -> None:
        self._log_metrics(scalars, step)

    def finish(self, trainer: Any) -> None:
        final = final_scalars(trainer)
        if final:
            self._log_metrics(final, epoch_step(trainer))
        for path in run_files(trainer.save_dir):
            self.client.log_artifact(self.run_id, str(path))
        for path in run_images(trainer.save_dir):
            self.client.log_artifact(self.run_id, str(path), "plots")
        best = best_weights(trainer)
        if best is not None:
            self.client.log_artifact(self.run_id, str(best), "weights")

    def close(self, trainer: Any, failed: bool) -> None:
        if self.client is not None and self.run_id and self.own_run:
            self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")
        self.client, self.run_id = None, ""
