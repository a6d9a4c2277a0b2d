"""Merging settings from their sources, and the errors users see."""

from __future__ import annotations

from pathlib import Path

import pytest

from yoloforge.cfg.resolve import parse_value, resolve
from yoloforge.errors import ConfigError


def test_merge_order_and_sources(tmp_path: Path) -> None:
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("epochs: 5\nlr0: 0.02\nbatch: 8\n")
    r = resolve(
        ("model file", {"epochs": 1, "imgsz": 320}),
        ("dataset file", {"epochs": 2}),
        ("command line", {"cfg": str(cfg), "batch": 4}),
    )
    assert (r.config.epochs, r.config.lr0, r.config.batch, r.config.imgsz) == (5, 0.02, 4, 320)
    assert r.sources["epochs"] == f"cfg file {cfg}"
    assert r.sources["batch"] == "command line"
    assert r.sources["imgsz"] == "model file"


@pytest.mark.parametrize(("typo", "fix"), [("epoch", "epochs"), ("img_size", "imgsz"), ("batchsize", "batch")])
def test_unknown_key_suggests_the_closest(typo: str, fix: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown setting '{typo}'.*did you mean '{fix}'"):
        resolve(("command line", {typo: 1}))


def test_unknown_key_in_cfg_file_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("epochz: 3\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'epochz' \(cfg file .*bad.yaml\)"):
        resolve(("call", {"cfg": str(cfg)}))


def test_bad_value_names_key_value_source_and_expectation() -> None:
    with pytest.raises(ConfigError) as e:
        resolve(("command line", {"fraction": 2}))
    msg = str(e.value)
    assert "'fraction'" in msg and "2" in msg and "command line" in msg and "less than or equal to 1" in msg


def test_cfg_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cfg file not found"):
        resolve(("call", {"cfg": str(tmp_path / "missing.yaml")}))
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        resolve(("call", {"cfg": str(bad)}))


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [("device", "0,1", "0,1"), ("classes", "[0,2]", [0, 2]), ("lr0", "1e-3", 0.001), ("name", "001", "001"),
     ("amp", "false", False), ("conf", "none", None), ("batch", "0.5", 0.5), ("imgsz", "[320,640]", [320, 640]),
     ("epochs", "3", 3), ("data", "my data.yaml", "my data.yaml")],
)  # fmt: skip
def test_cli_values_parse_as_yaml(key: str, text: str, value: object) -> None:
    assert parse_value(key, text) == value
