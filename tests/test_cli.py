"""The command line, run as a user runs it: a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def test_info_of_a_checkpoint_states_its_size_640_unless_given(fixtures_dir: Path) -> None:
    """The fixture was trained at imgsz 160; info still counts GFLOPs at 640 (as for the YAML) and says so."""
    ckpt = str(fixtures_dir / "yolo11n-coco128-overfit160.pt")
    r = cli("info", f"model={ckpt}")
    assert r.returncode == 0 and "6.5 GFLOPs at imgsz=640" in r.stdout, r.stdout + r.stderr
    r = cli("info", f"model={ckpt}", "imgsz=160")
    assert r.returncode == 0 and "0.4 GFLOPs at imgsz=160" in r.stdout, r.stdout + r.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """`yoloforge settings | head -1`: the pipe closes before the output is written."""
    for args in (["settings"], ["cfg"], ["help"]):
        p = subprocess.Popen([sys.executable, "-m", "yoloforge", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)  # fmt: skip
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()
        err = p.stderr.read().decode()
        assert p.wait(timeout=60) == 141 and err == "", (args, err)


def test_user_mistakes_are_one_line_and_exit_2(tmp_path: Path, fixtures_dir: Path) -> None:
    ckpt = str(fixtures_dir / "yolo11n-coco128-overfit160.pt")
    (tmp_path / "afile").write_text("a file, not a folder")
    cases = {
        ("val", f"model={ckpt}", "data=coco8.yaml", "imgsz=64", "workers=0", "project=afile"): "Not a directory",
        ("predict", f"model={ckpt}", "task=segment", "source=x.jpg"): "task=segment: yoloforge trains, validates",
        ("train", "data=coco8.yaml", "lr0=fast"): "'lr0': 'fast' (command line)",
        ("train", "data=nothere.yaml"): "dataset YAML 'nothere.yaml' not found",
    }
    for args, message in cases.items():
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.strip().splitlines()[-1].startswith("yoloforge: error: ") and message in r.stderr, r.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding runs/detect/train: one finished 1-epoch run."""
    from yoloforge import YOLO

    folder = tmp_path_factory.mktemp("resume")
    YOLO("yolo11n.yaml").train(data="coco8.yaml", epochs=1, imgsz=64, batch=4, workers=0, device="cpu",
                               plots=False, project=str(folder / "runs" / "detect"), name="train")  # fmt: skip
    return folder


def test_resume_true_with_a_model_path(finished: Path) -> None:
    last = finished / "runs/detect/train/weights/last.pt"
    r = cli("train", "resume=True", f"model={last}")
    assert r.returncode == 0 and "nothing to resume" in r.stderr and "True" not in r.stderr, r.stderr


def test_bare_resume_takes_the_most_recent_last_pt_under_runs(finished: Path, tmp_path: Path) -> None:
    newer = finished / "runs/detect/b_newer"
    if not newer.exists():
        shutil.copytree(finished / "runs/detect/train", newer)
    old = finished / "runs/detect/train/weights/last.pt"
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    r = cli("train", "resume", cwd=finished)
    assert r.returncode == 0, r.stderr
    assert "Resuming the most recent run: runs/detect/b_newer/weights/last.pt" in r.stderr
    assert "nothing to resume" in r.stderr
    r = cli("train", "resume", cwd=tmp_path)
    assert r.returncode == 2 and "no last.pt found under" in r.stderr and "model=path/to/weights/last.pt" in r.stderr
