"""Safe checkpoints: plain data only, atomic writes, refusal of files that would run code."""

from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path

import pytest
import torch

from yoloforge import YOLO
from yoloforge.errors import CheckpointError
from yoloforge.nn.checkpoint import build_checkpoint, load_checkpoint, model_from_checkpoint, save_checkpoint


class _RunsCommand:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def tiny() -> YOLO:
    return YOLO("yolo11n.yaml")


def test_round_trip_is_exact_and_loads_weights_only(tiny: YOLO, tmp_path: Path) -> None:
    path = tiny.save(tmp_path / "weights" / "m.pt")
    raw = torch.load(path, weights_only=True)  # plain data and tensors only
    assert raw["format"] == "yoloforge.checkpoint" and raw["model"]["names"][0] == "class0"
    again = YOLO(str(path))
    for (k, a), (k2, b) in zip(tiny.model.state_dict().items(), again.model.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b), k


def test_training_state_survives(tiny: YOLO, tmp_path: Path) -> None:
    opt = torch.optim.SGD(tiny.model.parameters(), lr=0.1, momentum=0.9)
    tiny.model.train()
    tiny.model(torch.rand(1, 3, 64, 64))[0].sum().backward()
    opt.step()
    ckpt = build_checkpoint(tiny.model, optimizer=opt.state_dict(), epoch=3, best_fitness=0.25, args={"epochs": 9})
    path = save_checkpoint(ckpt, tmp_path / "last.pt")
    back = load_checkpoint(path)
    assert (back["epoch"], back["best_fitness"], back["args"]) == (3, 0.25, {"epochs": 9})
    assert back["optimizer"]["param_groups"][0]["momentum"] == 0.9
    tiny.model.eval()


def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": _RunsCommand(marker)}, path)
    with pytest.raises(CheckpointError, match=r"refused to load .*evil.pt.*system"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="refused"):
        YOLO(str(path))
    assert not marker.exists()


def test_legacy_plain_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"model": _RunsCommand(marker)}, protocol=2))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_code_hidden_inside_a_lookalike_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("ultralytics.nn.tasks")

    class DetectionModel:  # pickled by reference to 'ultralytics.nn.tasks.DetectionModel'
        pass

    DetectionModel.__module__ = "ultralytics.nn.tasks"
    DetectionModel.__qualname__ = "DetectionModel"
    fake.DetectionModel = DetectionModel  # type: ignore[attr-defined]
    for name in ("ultralytics", "ultralytics.nn"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "ultralytics.nn.tasks", fake)
    marker = tmp_path / "pwned"
    path = tmp_path / "lookalike.pt"
    torch.save({"model": DetectionModel(), "x": _RunsCommand(marker)}, path)
    for name in ("ultralytics", "ultralytics.nn", "ultralytics.nn.tasks"):
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(CheckpointError, match=r"refused to import .*system"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_and_foreign_files_are_named(tiny: YOLO, tmp_path: Path) -> None:
    good = tiny.save(tmp_path / "good.pt")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt"):
        load_checkpoint(cut)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, other)
    with pytest.raises(CheckpointError, match="not a yoloforge checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_failed_write_leaves_the_old_file_and_no_debris(tiny: YOLO, tmp_path: Path) -> None:
    path = tiny.save(tmp_path / "last.pt")
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - any pickling error will do
        save_checkpoint(build_checkpoint(tiny.model, unpicklable=lambda: 0), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_weights_that_do_not_fit_are_reported(tiny: YOLO) -> None:
    ckpt = build_checkpoint(tiny.model)
    del ckpt["model"]["state_dict"]["model.0.conv.weight"]
    with pytest.raises(CheckpointError, match="1 missing"):
        model_from_checkpoint(ckpt)
