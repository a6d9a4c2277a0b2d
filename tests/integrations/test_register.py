"""Choosing loggers, the guard rails every logger shares, and the names it sends (no training run)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from tests.integrations.support import isolate
from yoloforge.cfg.schema import RunConfig
from yoloforge.cfg.user import KEYS, UserSettings
from yoloforge.engine.callbacks import Callbacks
from yoloforge.integrations import LOGGERS, register_loggers
from yoloforge.integrations.base import RunLogger, epoch_scalars, final_scalars, flat_params
from yoloforge.integrations.clearml import title_series
from yoloforge.integrations.mlflow import metric_name
from yoloforge.integrations.wandb import _logged_in
from yoloforge.utils.log import LOGGER

NONE_ON = {"tensorboard": False, "mlflow": False, "comet": False, "clearml": False, "wandb": False}


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """yoloforge's log messages at INFO and above, whatever an earlier test configured."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    level = LOGGER.level
    LOGGER.setLevel(logging.INFO)
    LOGGER.addHandler(handler)
    yield lines
    LOGGER.removeHandler(handler)
    LOGGER.setLevel(level)


def fake_trainer(tmp_path: Path, is_main: bool = True) -> SimpleNamespace:
    row = {"epoch": 1.0, "time": 3.5, "train/box_loss": 1.5, "metrics/mAP50-95(B)": 0.25, "lr/pg0": 0.01}
    return SimpleNamespace(ctx=SimpleNamespace(is_main=is_main), epoch=0, rows=[row], tloss=torch.tensor([1.0, 2, 3]),
                           metrics={}, lr={}, save_dir=tmp_path, wdir=tmp_path / "weights",
                           cfg=RunConfig(data="coco8.yaml", epochs=2, classes=[0, 2]),
                           final_metrics={"metrics/mAP50(B)": 0.5, "fitness": 0.4})  # fmt: skip


class Recorder(RunLogger):
    """A logger that records what the base class asks of it; `fail` makes start() raise."""

    name = "recorder"

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail, self.calls = fail, []

    def start(self, trainer: Any) -> str:
        self.calls.append("start")
        if self.fail:
            raise RuntimeError("no server")
        return "somewhere"

    def log_epoch(self, trainer: Any, step: int, scalars: dict[str, float]) -> None:
        self.calls.append(("epoch", step, scalars))

    def finish(self, trainer: Any) -> None:
        self.calls.append("finish")

    def close(self, trainer: Any, failed: bool) -> None:
        self.calls.append(("close", failed))


def run_events(callbacks: Callbacks, trainer: Any, events: tuple[str, ...]) -> None:
    for event in events:
        callbacks.run(event, trainer)


FULL_RUN = ("on_pretrain_routine_end", "on_fit_epoch_end", "on_train_end", "teardown")


def test_only_enabled_loggers_register() -> None:
    pytest.importorskip("mlflow")
    callbacks = Callbacks()
    assert register_loggers(callbacks, UserSettings(**NONE_ON)) == []
    assert callbacks.subscribers("on_fit_epoch_end") == []
    names = register_loggers(Callbacks(), UserSettings(**{**NONE_ON, "tensorboard": True, "mlflow": True}))
    assert names == ["tensorboard", "mlflow"]


def test_settings_are_read_when_not_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    for key in KEYS:  # no YOLOFORGE_<KEY> from the developer's shell
        monkeypatch.delenv(f"YOLOFORGE_{key.upper()}", raising=False)
    monkeypatch.setenv("YOLOFORGE_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("YOLOFORGE_TENSORBOARD", "0")
    monkeypatch.setenv("YOLOFORGE_WANDB", "yes")
    assert register_loggers(Callbacks()) == ["wandb"]


def test_a_missing_package_is_skipped_with_one_info_line(monkeypatch: pytest.MonkeyPatch, log_lines: list[str]) -> None:
    monkeypatch.setitem(LOGGERS, "comet", ("comet.CometLogger", "no_such_package_here", "comet-ml"))
    names = register_loggers(Callbacks(), UserSettings(**{**NONE_ON, "comet": True, "tensorboard": True}))
    assert names == ["tensorboard"]
    (line,) = [m for m in log_lines if "comet" in m]
    assert "not installed" in line and "pip install comet-ml" in line and "comet=false" in line


def test_registering_twice_changes_nothing() -> None:
    callbacks = Callbacks()
    settings = UserSettings(**{**NONE_ON, "tensorboard": True})
    assert register_loggers(callbacks, settings) == register_loggers(callbacks, settings) == ["tensorboard"]
    assert len(callbacks.subscribers("on_fit_epoch_end")) == 1


def test_a_logger_gets_the_epoch_row_then_the_end(tmp_path: Path) -> None:
    callbacks, logger = Callbacks(), Recorder()
    logger.register(callbacks)
    run_events(callbacks, fake_trainer(tmp_path), FULL_RUN)
    scalars = {"train/box_loss": 1.5, "metrics/mAP50-95(B)": 0.25, "lr/pg0": 0.01}  # no epoch, no time
    assert logger.calls == ["start", ("epoch", 1, scalars), "finish", ("close", False)]
    assert logger.destination == "somewhere" and not logger.active


def test_a_failing_start_warns_once_and_switches_the_logger_off(tmp_path: Path, log_lines: list[str]) -> None:
    callbacks, logger = Callbacks(), Recorder(fail=True)
    logger.register(callbacks)
    run_events(callbacks, fake_trainer(tmp_path), FULL_RUN)
    assert logger.calls == ["start", ("close", True)] and callbacks.failures == []
    (line,) = [m for m in log_lines if "recorder" in m]
    assert "could not start" in line and "no server" in line and "training goes on" in line


def test_a_crashed_run_is_closed_as_failed(tmp_path: Path) -> None:
    callbacks, logger = Callbacks(), Recorder()
    logger.register(callbacks)
    run_events(callbacks, fake_trainer(tmp_path), ("on_pretrain_routine_end", "on_fit_epoch_end", "teardown"))
    assert logger.calls[-1] == ("close", True)


def test_other_processes_log_nothing(tmp_path: Path) -> None:
    callbacks, logger = Callbacks(), Recorder()
    logger.register(callbacks)
    run_events(callbacks, fake_trainer(tmp_path, is_main=False), FULL_RUN)
    assert logger.calls == []


def test_the_loggers_line_says_where_output_goes(tmp_path: Path, log_lines: list[str]) -> None:
    callbacks = Callbacks()
    register_loggers(callbacks, UserSettings(**{**NONE_ON, "tensorboard": True}))
    trainer = fake_trainer(tmp_path)
    callbacks.run("on_pretrain_routine_end", trainer)
    callbacks.run("teardown", trainer)
    assert f"Loggers: tensorboard ({tmp_path})" in log_lines


def test_a_real_library_failing_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_lines: list[str]
) -> None:
    pytest.importorskip("mlflow")
    isolate(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://nowhere")
    callbacks = Callbacks()
    register_loggers(callbacks, UserSettings(**{**NONE_ON, "mlflow": True}))
    run_events(callbacks, fake_trainer(tmp_path), FULL_RUN)
    assert callbacks.failures == [] and any("mlflow logging could not start" in m for m in log_lines)


def test_numbers_and_names(tmp_path: Path) -> None:
    trainer = fake_trainer(tmp_path)
    assert final_scalars(trainer) == {"final/mAP50(B)": 0.5, "final/fitness": 0.4}
    trainer.rows = []  # not recorded yet: rebuilt from the trainer
    trainer.metrics, trainer.lr = {"metrics/mAP50(B)": 0.1, "fitness": 0.2}, {"lr/pg0": 0.01}
    assert epoch_scalars(trainer) == {"train/box_loss": 1.0, "train/cls_loss": 2.0, "train/dfl_loss": 3.0,
                                      "metrics/mAP50(B)": 0.1, "lr/pg0": 0.01}  # fmt: skip
    params = flat_params(trainer)
    assert params["epochs"] == 2 and params["classes"] == "[0, 2]" and params["model"] == "None"
    assert metric_name("metrics/mAP50-95(B)") == "metrics/mAP50-95_B" and metric_name("a#b c") == "a_b c"
    assert title_series("metrics/precision(B)") == ("metrics", "precision(B)") and title_series("x") == ("x", "x")


def test_wandb_goes_online_only_with_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert not _logged_in()
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    (tmp_path / "netrc").chmod(0o600)
    assert _logged_in()
    monkeypatch.setenv("NETRC", str(tmp_path / "absent"))
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert _logged_in()
