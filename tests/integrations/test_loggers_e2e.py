"""One real tiny training run with all five loggers on, each read back with its own tool.

A single test on purpose: the run is shared (about 40 s on 2 CPUs) and pytest-xdist could otherwise
start it once per worker. Every logger is checked even when another fails; the failure lists them all.
Every epoch of results.csv must arrive in every logger, under the documented names.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from tests.integrations.support import (
    clearml_metrics,
    comet_messages,
    isolate,
    tensorboard_image,
    tensorboard_scalars,
    wandb_records,
)

PACKAGES = ("tensorboard", "mlflow", "comet_ml", "clearml", "wandb")
MISSING = [p for p in PACKAGES if importlib.util.find_spec(p) is None]  # found, not imported: see isolate()
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the libraries' own, not ours
    pytest.mark.skipif(bool(MISSING), reason=f"not installed: {MISSING} (pip install -e '.[dev]')"),
]


EPOCHS = 2
TINY = {
    "data": "coco8.yaml",
    "imgsz": 64,
    "batch": 4,
    "workers": 0,
    "device": "cpu",
    "plots": False,
    "verbose": True,
    "epochs": EPOCHS,
}  # fmt: skip  (verbose: the "Loggers:" line is an info line)


def fake_plot(trainer: Any) -> None:
    """Stand in for the plots that plots=True draws, so image logging is exercised at tiny cost."""
    import cv2

    cv2.imwrite(str(trainer.save_dir / "train_batch0.jpg"), np.full((32, 48, 3), 127, np.uint8))


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from yoloforge import YOLO
    from yoloforge.integrations import register_loggers
    from yoloforge.utils.log import LOGGER

    tmp = tmp_path_factory.mktemp("loggers")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, tmp / "home")
        for name in ("tensorboard", "mlflow", "comet", "clearml", "wandb"):
            mp.setenv(f"YOLOFORGE_{name.upper()}", "1")
        collect = Collect()
        LOGGER.addHandler(collect)
        level = LOGGER.level
        LOGGER.setLevel(logging.INFO)  # yoloforge follows the application's levels; this test reads INFO lines
        try:
            yolo = YOLO("yolo11n.yaml")
            names = register_loggers(yolo.callbacks)
            yolo.add_callback("on_train_epoch_end", fake_plot)
            yolo.train(**TINY, project=str(tmp / "proj"), name="run")
        finally:
            LOGGER.removeHandler(collect)
            LOGGER.setLevel(level)
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader((yolo.save_dir / "results.csv").open())]
        yield {"names": names, "save_dir": yolo.save_dir, "home": tmp / "home", "log": collect.lines,
               "rows": rows, "failures": yolo.callbacks.failures}  # fmt: skip


def expected(run: dict[str, Any]) -> dict[str, dict[int, float]]:
    """results.csv as name -> {epoch: value}, without epoch and time (not logged)."""
    out: dict[str, dict[int, float]] = {}
    for row in run["rows"]:
        for key, value in row.items():
            if key not in ("epoch", "time"):
                out.setdefault(key, {})[int(row["epoch"])] = value
    return out


def same(got: dict[int, float], want: dict[int, float], what: str) -> None:
    assert sorted(got) == sorted(want), f"{what}: steps {sorted(got)} != epochs {sorted(want)}"
    for step, value in want.items():
        assert got[step] == pytest.approx(value, rel=1e-5, abs=1e-7), f"{what} at epoch {step}"


def check_tensorboard(run: dict[str, Any]) -> None:
    scalars, images, hparams = tensorboard_scalars(run["save_dir"])
    for key, want in expected(run).items():
        same(scalars.get(key, {}), want, f"tensorboard {key}")
    assert "final/mAP50-95(B)" in scalars and "train_batch0" in images
    data, width, height = tensorboard_image(run["save_dir"], "train_batch0")  # the JPEG as written, not re-encoded
    assert data == (run["save_dir"] / "train_batch0.jpg").read_bytes() and (width, height) == (48, 32)
    assert hparams["epochs"] == EPOCHS and hparams["imgsz"] == 64 and hparams["data"] == "coco8.yaml"


def check_mlflow(run: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    from yoloforge.integrations.mlflow import metric_name

    client = MlflowClient((run["save_dir"] / "mlruns").as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name("proj").experiment_id])
    rid = found.info.run_id
    for key, want in expected(run).items():
        history = {m.step: m.value for m in client.get_metric_history(rid, metric_name(key))}
        same(history, want, f"mlflow {key}")
    assert metric_name("metrics/mAP50-95(B)") == "metrics/mAP50-95_B"
    assert found.data.params["epochs"] == str(EPOCHS) and found.info.status == "FINISHED"
    assert "final/mAP50-95_B" in found.data.metrics and found.info.run_name == "run"
    files = {a.path for a in client.list_artifacts(rid)} | {a.path for d in ("plots", "weights")
                                                           for a in client.list_artifacts(rid, d)}  # fmt: skip
    assert {"results.csv", "args.yaml", "plots/train_batch0.jpg", "weights/best.pt"} <= files, files


def check_comet(run: dict[str, Any]) -> None:
    messages = comet_messages(run["save_dir"] / "comet")
    metrics: dict[str, dict[int, float]] = {}
    params, uploads = {}, []
    for m in messages:
        p = m["payload"]
        if m["type"] == "metric_msg":
            metrics.setdefault(p["metric"]["metricName"], {})[p["metric"]["step"]] = float(p["metric"]["metricValue"])
        elif m["type"] == "parameter_msg":
            param = p.get("param") or p.get("params")
            params[param["paramName"]] = param["paramValue"]
        elif m["type"] == "file_upload":
            extra = p["additional_params"]
            uploads.append(extra.get("figName") or extra.get("fileName"))
    for key, want in expected(run).items():
        same(metrics.get(key, {}), want, f"comet {key}")
    assert "final/mAP50-95(B)" in metrics and params["epochs"] == EPOCHS and params["imgsz"] == 64
    assert {"train_batch0", "results.csv", "args.yaml", "best.pt"} <= set(uploads), uploads


def check_clearml(run: dict[str, Any]) -> None:
    import json

    (session,) = [p for p in (run["home"] / ".clearml" / "cache" / "offline").iterdir() if p.is_dir()]
    events = clearml_metrics(session)
    scalars: dict[str, dict[int, float]] = {}
    for e in events:
        if e["type"] == "training_stats_scalar":
            key = e["variant"] if e["metric"] == "Summary" else f"{e['metric']}/{e['variant']}"
            scalars.setdefault(key, {})[e["iter"]] = e["value"]
    for key, want in expected(run).items():
        same(scalars.get(key, {}), want, f"clearml {key}")
    assert "final/mAP50-95(B)" in scalars
    assert any(e["type"] == "training_debug_image" and e["variant"] == "train_batch0" for e in events)
    task = json.loads((session / "task.json").read_text())
    assert task["hyperparams"]["Args"]["epochs"]["value"] == str(EPOCHS) and task["name"] == "run"
    artifacts = {a["key"] for a in task["execution"]["artifacts"]}
    assert {"results.csv", "args.yaml", "best.pt"} <= artifacts, artifacts


def check_wandb(run: dict[str, Any]) -> None:
    import json

    (run_file,) = (run["save_dir"] / "wandb").glob("offline-run-*/run-*.wandb")
    history: dict[str, dict[int, float]] = {}
    summary, config, artifacts, exit_codes = {}, {}, [], []
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                history.setdefault(key, {})[record.history.step.num] = json.loads(item.value_json)
        elif kind == "summary":
            summary.update({i.key or "/".join(i.nested_key): i.value_json for i in record.summary.update})
        elif kind == "run":
            config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "artifact":
            artifacts.append((record.artifact.type, [c.path for c in record.artifact.manifest.contents]))
        elif kind == "exit":
            exit_codes.append(record.exit.exit_code)
    for key, want in expected(run).items():
        same({s: float(v) for s, v in history.get(key, {}).items()}, want, f"wandb {key}")
    assert "final/mAP50-95(B)" in summary and config["epochs"] == EPOCHS and config["imgsz"] == 64
    assert ("model", ["best.pt"]) in artifacts and exit_codes == [0]
    assert any(k.startswith("plots/train_batch0") for k in history)


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "tensorboard": check_tensorboard,
    "mlflow": check_mlflow,
    "comet": check_comet,
    "clearml": check_clearml,
    "wandb": check_wandb,
}


def test_every_logger_receives_every_epoch(logged_run: dict[str, Any]) -> None:
    assert logged_run["names"] == list(CHECKS)
    assert logged_run["failures"] == [], logged_run["failures"]
    announced = [line for line in logged_run["log"] if line.startswith("Loggers: ")]
    assert len(announced) == 1 and all(name in announced[0] for name in CHECKS), announced
    assert "mlruns" in announced[0] and "offline" in announced[0]
    problems = []
    for name, check in CHECKS.items():
        try:
            check(logged_run)
        except Exception as e:
            problems.append(f"{name}: {type(e).__name__}: {e}")
    assert not problems, "\n".join(problems)
