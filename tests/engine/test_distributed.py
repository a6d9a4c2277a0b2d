"""Distributed data-parallel training with 2 gloo processes on CPU: spawned by yoloforge, or started by torchrun
(one machine, and two "nodes" on 127.0.0.1)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import yaml

import yoloforge
from tests.data.test_download import make_zip, serve
from yoloforge import YOLO
from yoloforge.engine.distributed import DistContext, DistributedRunError, free_port, launch

COCO8 = Path(yoloforge.__file__).parent / "cfg" / "datasets" / "coco8"
TINY = {"data": "coco8.yaml", "imgsz": 64, "batch": 4, "workers": 0, "plots": False, "verbose": False, "epochs": 2}


def record_event(trainer: Any) -> None:
    """A picklable callback: each rank appends its events to its own file."""
    path = Path(trainer.save_dir) / f"events-rank{max(trainer.ctx.rank, 0)}.txt"
    with path.open("a") as f:
        f.write(f"{trainer.epoch}\n")


def steps(run: Path) -> int:
    return torch.load(run / "weights/last.pt", weights_only=True)["optimizer_steps"]


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same training in one process: the reference every multi-process run is compared with."""
    project = tmp_path_factory.mktemp("single")
    yolo = YOLO("yolo11n.yaml")
    yolo.add_callback("on_train_epoch_end", record_event)
    yolo.train(**TINY, device="cpu", project=str(project), name="single")
    return project / "single"


def coco8_to_download(tmp: Path, server_url: str) -> Path:
    """A dataset YAML for coco8's images that is not on disk yet: its `download` URL serves them as a zip."""
    names = yaml.safe_load((COCO8.parent / "coco8.yaml").read_text())["names"]
    spec = {"path": "c8", "train": "images/train", "val": "images/val", "names": names, "download": server_url}
    (tmp / "c8.yaml").write_text(yaml.safe_dump(spec))
    return tmp / "c8.yaml"


def test_two_processes_download_once_train_save_once_and_step_like_one(
    single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"c8/{p.relative_to(COCO8).as_posix()}": p.read_bytes() for p in COCO8.rglob("*") if p.is_file()
             and p.suffix in (".jpg", ".txt")}  # fmt: skip
    monkeypatch.setenv("YOLOFORGE_DATASETS_DIR", str(tmp_path / "datasets"))
    monkeypatch.setenv("no_proxy", "*")
    with serve({"c8.zip": make_zip(files)}) as server:
        ddp = YOLO("yolo11n.yaml")
        ddp.add_callback("on_train_epoch_end", record_event)
        data = coco8_to_download(tmp_path, server.url("c8.zip"))
        metrics = ddp.train(**{**TINY, "data": str(data)}, device="cpu,cpu", project=str(tmp_path / "runs"), name="ddp")
    assert server.hits("c8.zip") == [None]  # downloaded once, before the ranks started
    assert "metrics/mAP50-95(B)" in metrics
    runs = tmp_path / "runs"
    assert sorted(p.name for p in runs.iterdir()) == ["ddp"]
    assert steps(single) == steps(runs / "ddp") > 0
    assert len((runs / "ddp" / "results.csv").read_text().splitlines()) == 1 + TINY["epochs"]
    for rank in (0, 1):  # callbacks fire on every rank, as in a single process
        assert (runs / "ddp" / f"events-rank{rank}.txt").read_text().split() == ["0", "1"]


def torchrun(*launcher: str, project: Path) -> subprocess.Popen[str]:
    """`torchrun <launcher args> yoloforge train ...`: the CLI as each rank, as a cluster user starts it."""
    cli = Path(sys.executable).parent / "yoloforge"
    settings = [
        f"{k}={v}" for k, v in {**TINY, "verbose": True, "device": "cpu", "project": project, "name": "run"}.items()
    ]
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *launcher, "--no-python", str(cli),
                             "train", "model=yolo11n.yaml", *settings], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    return out


def test_torchrun_two_processes_join_its_group_and_step_like_one(single: Path, tmp_path: Path) -> None:
    out = finish(torchrun("--standalone", "--nproc-per-node", "2", project=tmp_path))
    assert "rank 0 of 2, started by an outside launcher" in out
    all_rows = [line for line in out.splitlines() if line.split()[:1] == ["all"]]
    assert len(all_rows) == TINY["epochs"] + 1  # a P/R/mAP line after each epoch's validation, then the final table
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # one run folder, written by rank 0
    assert steps(tmp_path / "run") == steps(single)
    assert len((tmp_path / "run" / "results.csv").read_text().splitlines()) == 1 + TINY["epochs"]


def test_torchrun_two_nodes_on_loopback_step_like_one(single: Path, tmp_path: Path) -> None:
    port = str(free_port())
    nodes = [torchrun("--nnodes", "2", "--node-rank", str(rank), "--nproc-per-node", "1", "--master-addr",
                      "127.0.0.1", "--master-port", port, project=tmp_path) for rank in (0, 1)]  # fmt: skip
    outs = [finish(node) for node in nodes]
    assert "rank 0 of 2" in outs[0] and "Results saved to" in outs[0]
    assert "Results saved to" not in outs[1]  # the second node's rank trains but neither logs nor saves
    assert steps(tmp_path / "run") == steps(single)


def _stuck_rank(ctx: DistContext) -> None:
    if ctx.rank == 1:
        time.sleep(60)
    dist.all_reduce(torch.ones(1))


def test_a_stuck_rank_times_out_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLOFORGE_DDP_TIMEOUT", "3")
    start = time.perf_counter()
    with pytest.raises(DistributedRunError, match="rank 0 failed"):
        launch(_stuck_rank, [torch.device("cpu")] * 2)
    assert time.perf_counter() - start < 50
