"""The Python API shows its output without configuring logging, and respects a script's own logging setup.

Each case is a real Python process (logging state is per process), running val() and predict() of the
Ultralytics-trained fixture model on the packaged coco8 images.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BODY = """
import logging, sys
from yoloforge import YOLO
root_before = (list(logging.getLogger().handlers), logging.getLogger().level)
model = YOLO({ckpt!r})
m = model.val(data="coco8.yaml", imgsz=64, batch=4, workers=0, device="cpu", plots=True, project={tmp!r}, name="v")
r = model.predict({image!r}, imgsz=64, device="cpu", save=True, project={tmp!r}, name="p")
log = logging.getLogger("yoloforge")
assert (list(logging.getLogger().handlers), logging.getLogger().level) == root_before, "root logger changed"
assert log.propagate, "yoloforge stopped propagating"
print("SAVE_DIRS", m.save_dir, r[0].save_dir)
"""


def _run(tmp_path: Path, fixtures_dir: Path, preamble: str) -> subprocess.CompletedProcess[str]:
    image = Path(__file__).resolve().parents[1] / "yoloforge/cfg/datasets/coco8/images/val"
    first = sorted(image.iterdir())[0]
    ckpt = fixtures_dir / "yolo11n-coco128-overfit160.pt"
    code = textwrap.dedent(preamble) + BODY.format(ckpt=str(ckpt), tmp=str(tmp_path), image=str(first))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> subprocess.CompletedProcess[str]:
    return _run(tmp_path_factory.mktemp("plain"), fixtures_dir, "")


def test_a_script_without_logging_config_sees_tables_and_where_results_went(plain) -> None:
    assert plain.returncode == 0, plain.stderr
    err = plain.stderr
    head = [ln.split() for ln in err.splitlines() if ln.split()[:3] == ["Class", "Images", "Instances"]]
    rows = [ln.split() for ln in err.splitlines() if ln.split()[:3] == ["all", "4", "17"]]
    assert len(head) == 1 and len(rows) == 1, err  # the val table: coco8's 4 val images, 17 labelled objects
    assert "Results saved to" in err and err.count("Speed:") == 2, err
    assert "1/1 " in err and " ms" in err, err  # predict's per-image line
    v, p = plain.stdout.split("SAVE_DIRS")[1].split()
    assert Path(v).name == "v" and Path(p).name == "p"


def test_the_applications_logging_config_rules(tmp_path: Path, fixtures_dir: Path) -> None:
    """basicConfig at INFO: yoloforge's lines arrive once, in the application's format; at WARNING: none."""
    info = _run(tmp_path / "a", fixtures_dir, "import logging\nlogging.basicConfig(level=logging.INFO, "
                "format='APP %(name)s: %(message)s')\n")  # fmt: skip
    assert info.returncode == 0, info.stderr
    lines = info.stderr.splitlines()
    results = [ln for ln in lines if "Results saved to" in ln]
    assert results and all(ln.startswith("APP yoloforge: ") for ln in results), info.stderr
    assert len(results) == len(set(results)), "a line was printed twice"
    quiet = _run(tmp_path / "b", fixtures_dir, "import logging\nlogging.basicConfig(level=logging.WARNING)\n")
    assert quiet.returncode == 0, quiet.stderr
    assert "Results saved to" not in quiet.stderr and "Speed:" not in quiet.stderr, quiet.stderr


def test_verbose_false_and_an_explicit_level_are_respected(tmp_path: Path, fixtures_dir: Path) -> None:
    r = _run(tmp_path, fixtures_dir, "import logging\nlogging.getLogger('yoloforge').setLevel(logging.ERROR)\n")
    assert r.returncode == 0, r.stderr
    assert "Results saved to" not in r.stderr and "all" not in r.stderr, r.stderr
