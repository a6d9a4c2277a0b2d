"""The command line, run as a user runs it: a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from yoloforge.cfg.schema import RunConfig


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "yoloforge", *args], capture_output=True, text=True, cwd=cwd)


def test_help_version_and_cfg() -> None:
    assert "yoloforge [TASK] MODE key=value" in cli("help").stdout
    assert cli("version").stdout.strip() == __import__("yoloforge").__version__
    out = cli("cfg").stdout
    for key in RunConfig.model_fields:
        assert f"\n{key}:" in f"\n{out}", key


def test_help_does_not_import_torch() -> None:
    code = "import sys; from yoloforge.cli import main; main(['help']); main(['cfg']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_unknown_key_exits_2_with_a_suggestion() -> None:
    r = cli("detect", "train", "data=coco8.yaml", "epoch=3")
    assert r.returncode == 2
    assert "unknown setting 'epoch'" in r.stderr and "did you mean 'epochs'?" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_value_exits_2_naming_key_and_value() -> None:
    r = cli("train", "imgsz=abc")
    assert r.returncode == 2 and "'imgsz'" in r.stderr and "abc" in r.stderr and "Traceback" not in r.stderr
    r = cli("trian")
    assert r.returncode == 2 and "did you mean 'train'" in r.stderr
    r = cli("segment", "train")
    assert r.returncode == 2 and "not supported" in r.stderr


def test_info_builds_a_model() -> None:
    r = cli("info", "model=yolo11n.yaml")
    assert r.returncode == 0, r.stderr
    assert "2,624,080 parameters" in r.stdout and "6.5 GFLOPs" in r.stdout


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    r = cli("info", "model=nope.yaml", cwd=tmp_path)
    assert r.returncode != 0 and "nope.yaml" in r.stderr and "Traceback" not in r.stderr
    r = cli("val")
    assert r.returncode == 2 and "model=" in r.stderr


def test_train_without_data_is_a_clear_error(tmp_path: Path) -> None:
    r = cli("train", "model=yolo11n.yaml", "epochs=1", cwd=tmp_path)
    assert r.returncode == 2 and "data=" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []  # no empty run folder left behind
