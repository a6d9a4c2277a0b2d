"""What a run records so it can be resumed anywhere: the dataset by absolute path, its run folder, its real imgsz.

One finished 1-epoch run (module fixture) is resumed with epochs=2 from another working directory, after its
dataset moved, and from a copy of its last.pt.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import yaml

from yoloforge import YOLO
from yoloforge.errors import ConfigError
from yoloforge.nn.checkpoint import load_checkpoint

TINY = {"batch": 4, "workers": 0, "device": "cpu", "plots": False, "verbose": False, "warmup_epochs": 0.0}


def _dataset(root: Path, coco128_dir: Path, names: list[str]) -> Path:
    images = sorted((coco128_dir / "images" / "train2017").glob("*.jpg"))[:4]
    for kind, ext in (("images", ".jpg"), ("labels", ".txt")):
        (root / kind / "tr").mkdir(parents=True)
        for im in images:
            shutil.copy(coco128_dir / kind / "train2017" / f"{im.stem}{ext}", root / kind / "tr")
    spec = {"path": ".", "train": "images/tr", "val": "images/tr", "names": names}
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root / "data.yaml"


@pytest.fixture
def run(tmp_path: Path, coco128_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A finished 1-epoch run started as users type it: relative data= and project=, a list imgsz."""
    yaml_names = yaml.safe_load((coco128_dir / "coco128.yaml").read_text())["names"]
    _dataset(tmp_path / "ds", coco128_dir, [yaml_names[i] for i in range(len(yaml_names))])
    monkeypatch.chdir(tmp_path)
    YOLO("yolo11n.yaml").train(data="ds/data.yaml", epochs=1, imgsz=[32, 64], project="runs", name="r", **TINY)
    return tmp_path / "runs" / "r"


def _resume(last: Path, **kw) -> YOLO:
    yolo = YOLO(str(last))
    yolo.train(resume=True, **{"epochs": 2, **kw})
    return yolo


def _epochs(run: Path) -> list[int]:
    return [int(line.split(",")[0]) for line in (run / "results.csv").read_text().splitlines()[1:]]


def test_resume_from_elsewhere_after_the_dataset_moved(
    run: Path, tmp_path: Path, coco128_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Relative data= and project= recorded absolute; a moved dataset is named by data= on resume (Ultralytics
    PR #26175), from another working directory; a dataset of other classes is refused."""
    args = yaml.safe_load((run / "args.yaml").read_text())
    assert args["data"] == str(tmp_path / "ds" / "data.yaml") and args["imgsz"] == 64  # [32, 64]: what was trained
    last = run / "weights" / "last.pt"
    ckpt = load_checkpoint(last)
    assert ckpt["args"]["data"] == args["data"] and ckpt["args"]["imgsz"] == 64 and ckpt["save_dir"] == str(run)
    other = _dataset(tmp_path / "other", coco128_dir, [f"c{i}" for i in range(80)])
    (tmp_path / "ds").rename(tmp_path / "moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ConfigError) as e:
        _resume(last)
    assert str(e.value) == (
        f"resume: the run's dataset {tmp_path / 'ds' / 'data.yaml'} no longer exists. If it moved, point the run "
        f"at it: yoloforge train resume model={last} data=path/to/data.yaml"
    )
    with pytest.raises(ConfigError, match=r"resume: data=.* has classes \['c0', .*a resumed run needs the same"):
        _resume(last, data=str(other))
    caplog.set_level(logging.INFO, logger="yoloforge")
    _resume(last, data="../moved/data.yaml")
    assert _epochs(run) == [1, 2] and list(elsewhere.iterdir()) == []
    assert yaml.safe_load((run / "args.yaml").read_text())["data"] == str(tmp_path / "moved" / "data.yaml")
    assert f"resume: data changed from '{tmp_path / 'ds' / 'data.yaml'}' to '../moved/data.yaml'" in caplog.text


def test_resume_writes_to_the_run_folder_by_one_rule(run: Path, tmp_path: Path) -> None:
    """A last.pt copied out of its run continues that run (the folder it records); a checkpoint inside a run
    folder continues that folder (renamed or copied whole); with neither, a new run folder."""
    copy = tmp_path / "backup" / "last.pt"
    copy.parent.mkdir()
    shutil.copy(run / "weights" / "last.pt", copy)
    _resume(copy)
    assert _epochs(run) == [1, 2] and sorted(p.name for p in copy.parent.iterdir()) == ["last.pt"]
    assert sorted(p.name for p in run.parent.iterdir()) == ["r"]  # no new run folder
    whole = shutil.copytree(run, run.parent / "whole copy")
    _resume(whole / "weights" / "last.pt", epochs=3)
    assert _epochs(whole) == [1, 2, 3] and _epochs(run) == [1, 2]
    renamed = run.rename(run.parent / "renamed")
    shutil.copy(renamed / "weights" / "last.pt", copy)  # the copy's recorded folder no longer exists
    _resume(copy, epochs=3)
    assert sorted(p.name for p in run.parent.iterdir()) == ["r", "renamed", "whole copy"]  # new: the first free name
    assert _epochs(run) == [3] and _epochs(renamed) == [1, 2]
