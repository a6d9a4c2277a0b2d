"""Real training runs on the packaged coco8 at a tiny size: run folder, files, events, errors."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from yoloforge import YOLO
from yoloforge.engine.callbacks import EVENTS
from yoloforge.engine.train.results_csv import COLUMNS
from yoloforge.engine.train.trainer import TrainingError
from yoloforge.errors import CheckpointError, ConfigError

TINY = {"data": "coco8.yaml", "imgsz": 64, "batch": 4, "workers": 0, "device": "cpu", "plots": False,
        "verbose": False, "warmup_epochs": 0.0}  # fmt: skip


def train(tmp: Path, name: str = "run", model: str = "yolo11n.yaml", **kw: Any) -> tuple[YOLO, dict[str, float]]:
    yolo = YOLO(model)
    metrics = yolo.train(**{**TINY, "project": str(tmp), "name": name, **kw})
    return yolo, metrics


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[YOLO, dict[str, float], list[str]]:
    events: list[str] = []
    yolo = YOLO("yolo11n.yaml")
    for event in EVENTS:
        yolo.add_callback(event, lambda trainer, e=event: events.append(e))
    yolo.add_callback("on_train_epoch_end", lambda trainer: 1 / 0)  # must not stop training
    tmp = tmp_path_factory.mktemp("runs")
    metrics = yolo.train(**{**TINY, "project": str(tmp), "name": "run", "epochs": 2, "save_period": 1})
    return yolo, metrics, events


def test_run_folder_and_files(finished_run: tuple[YOLO, dict[str, float], list[str]]) -> None:
    yolo, metrics, _ = finished_run
    run = yolo.save_dir
    assert run is not None and run.name == "run"
    for f in (
        "args.yaml",
        "results.csv",
        "weights/last.pt",
        "weights/best.pt",
        "weights/epoch1.pt",
        "weights/epoch2.pt",
    ):
        assert (run / f).is_file(), f
    rows = list(csv.DictReader((run / "results.csv").open()))
    assert tuple(rows[0]) == COLUMNS and [r["epoch"] for r in rows] == ["1", "2"]
    assert set(metrics) >= {"metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)"}
    last = torch.load(run / "weights/last.pt", weights_only=True)
    assert last["epoch"] == 1 and last["args"]["epochs"] == 2 and last["optimizer"] is not None
    best = torch.load(run / "weights/best.pt", weights_only=True)  # inference weights only, in fp16
    assert {v.dtype for v in best["model"]["state_dict"].values() if v.is_floating_point()} == {torch.float16}
    assert "optimizer" not in best and "train_weights" not in best
    assert (run / "weights/best.pt").stat().st_size < (run / "weights/last.pt").stat().st_size / 6
    assert {v.dtype for v in last["model"]["state_dict"].values() if v.is_floating_point()} == {torch.float32}
    assert all(torch.isfinite(v).all() for v in last["model"]["state_dict"].values() if v.is_floating_point())
    assert yolo.model.nc == 80 and Path(yolo.source) == run / "weights/best.pt"


def test_events_fire_in_order_and_a_failing_callback_is_harmless(
    finished_run: tuple[YOLO, dict[str, float], list[str]],
) -> None:
    _, _, events = finished_run
    assert events[0] == "on_pretrain_routine_start" and events[-1] == "teardown"
    assert events.count("on_train_epoch_end") == 2 and events.count("on_fit_epoch_end") == 2
    assert events.count("on_model_save") == 2 and "on_train_end" in events
    assert events.count("on_train_batch_end") == events.count("on_train_batch_start") >= 2


def test_run_folders_are_numbered_and_other_tasks_settings_warn_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "train").mkdir()
    with caplog.at_level(logging.WARNING, logger="yoloforge"):
        yolo, _ = train(tmp_path, name=None, epochs=1, pose=6.0, mask_ratio=2, dropout=0.1, erasing=0.4)  # type: ignore[arg-type]
    assert yolo.save_dir == tmp_path / "train2"
    warned = [r.getMessage() for r in caplog.records if "ignores settings of other tasks" in r.getMessage()]
    assert warned == ["a detect run ignores settings of other tasks: pose=6.0 (pose task), mask_ratio=2 (segment "
                      "task), dropout=0.1 (classify task)"]  # erasing=0.4 is its default: not named  # fmt: skip


def test_resuming_a_finished_run_says_so(
    finished_run: tuple[YOLO, dict[str, float], list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    yolo, _, _ = finished_run
    last = yolo.save_dir / "weights/last.pt"
    before = last.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="yoloforge"):
        again = YOLO(str(last)).train(resume=True)
    assert "finished run" in caplog.text and "nothing to resume" in caplog.text
    assert last.stat().st_mtime_ns == before  # nothing was trained or saved again
    assert again == last_metrics(yolo.save_dir) and "metrics/mAP50(B)" in again


def last_metrics(run: Path) -> dict[str, float]:
    return torch.load(run / "weights/last.pt", weights_only=True)["train_metrics"]


def test_resume_from_best_names_what_is_missing(finished_run: tuple[YOLO, dict[str, float], list[str]]) -> None:
    yolo, _, _ = finished_run
    with pytest.raises(CheckpointError, match="lacks train_weights, ema, optimizer"):
        YOLO(str(yolo.save_dir / "weights/best.pt")).train(resume=True)


def test_nan_loss_stops_with_a_clear_error(tmp_path: Path) -> None:
    def poison(trainer: Any) -> None:
        with torch.no_grad():
            trainer.model.model[0].conv.weight.fill_(float("nan"))

    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_train_batch_start", poison)
    with pytest.raises(TrainingError, match=r"NaN or infinite.*lower lr0"):
        yolo.train(**{**TINY, "project": str(tmp_path), "name": "nan", "epochs": 3, "batch": 1})
    for ckpt in (tmp_path / "nan").rglob("*.pt"):  # whatever was saved holds no NaN
        saved = torch.load(ckpt, weights_only=True)
        for v in (*saved["model"]["state_dict"].values(), *saved.get("train_weights", {}).values()):
            assert not v.is_floating_point() or torch.isfinite(v).all()


def test_absent_device_lists_what_exists(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"CUDA device 0 not found.*available: cpu"):
        train(tmp_path, device="0", epochs=1)


def test_time_limit_overrides_epochs(tmp_path: Path) -> None:
    yolo, _ = train(tmp_path, epochs=50, time=1e-6)
    rows = list(csv.DictReader((yolo.save_dir / "results.csv").open()))
    assert len(rows) == 1


def timed_run(tmp: Path, name: str, epochs: int, hours: float) -> tuple[int, int]:
    """(epochs run, final plan) of a run with time=`hours` whose epochs each take one hour.

    The trainer measures time from `t0`; a callback moves t0 back at each epoch's end (after its batches, before
    validation and the re-plan), so every epoch lasts exactly one hour on the trainer's clock, whatever the load.
    """

    def hour_long_epochs(trainer: Any) -> None:
        trainer.t0 = time.perf_counter() - 3600 * (trainer.epoch + 1)

    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_train_epoch_end", hour_long_epochs)
    yolo.train(**{**TINY, "project": str(tmp), "name": name, "epochs": epochs, "time": hours})
    rows = list(csv.DictReader((tmp / name / "results.csv").open()))
    return len(rows), torch.load(tmp / name / "weights/last.pt", weights_only=True)["epochs"]


def test_time_replans_past_a_smaller_epochs(tmp_path: Path) -> None:
    """epochs=1 with time for 3.5 epochs: the loop follows the plan of 4 instead of stopping after 1."""
    assert timed_run(tmp_path, "longer", epochs=1, hours=3.5) == (4, 4)


def test_time_replan_ends_the_run_where_planned(tmp_path: Path) -> None:
    """epochs=30 with time for 1.5 epochs: the run ends after epoch 2, the last of its plan (no extra cut epoch)."""
    assert timed_run(tmp_path, "shorter", epochs=30, hours=1.5) == (2, 2)


def test_gradients_that_are_never_finite_end_the_run(tmp_path: Path) -> None:
    """A finite loss with infinite gradients every step: steps are skipped and counted apart, then a clear error."""

    def inf_gradients(trainer: Any) -> None:
        trainer.model.model[0].conv.weight.register_hook(lambda g: g * float("inf"))

    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_pretrain_routine_end", inf_gradients)
    with pytest.raises(TrainingError, match=r"gradient was NaN or infinite for 5 optimizer steps in a row"):
        yolo.train(**{**TINY, "project": str(tmp_path), "name": "inf", "epochs": 3, "batch": 1, "nbs": 1})
    first = torch.load(tmp_path / "inf/weights/last.pt", weights_only=True)  # epoch 1: 4 steps, all skipped
    assert first["epoch"] == 0 and first["optimizer_steps"] == 0 and first["nonfinite"]["gradient"] == 4


def test_freeze_keeps_frozen_weights(tmp_path: Path) -> None:
    start: dict[str, torch.Tensor] = {}
    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_pretrain_routine_end",
                      lambda t: start.update({k: v.clone() for k, v in t.model.state_dict().items()}))  # fmt: skip
    yolo.train(**{**TINY, "project": str(tmp_path), "name": "frozen", "epochs": 1, "freeze": 2})
    after = torch.load(tmp_path / "frozen/weights/last.pt", weights_only=True)["train_weights"]
    assert torch.equal(after["model.0.conv.weight"], start["model.0.conv.weight"])
    assert torch.equal(after["model.1.conv.weight"], start["model.1.conv.weight"])
    assert not torch.equal(after["model.5.conv.weight"], start["model.5.conv.weight"])


def test_a_run_failing_in_setup_leaves_no_run_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="freeze"):
        train(tmp_path, name=None, epochs=1, freeze=[99])  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    yolo, _ = train(tmp_path, name=None, epochs=1)  # type: ignore[arg-type]
    assert yolo.save_dir == tmp_path / "train"  # the failed run took no number
