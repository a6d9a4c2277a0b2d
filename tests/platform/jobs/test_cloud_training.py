"""Cloud training end to end with a real server process and the local executor on the `cpu` type: submit, run,
metrics, stop, resume, complete; a SIGKILLed worker restarted from last.pt; a server killed and restarted while
its job runs. Tiny runs: coco8 at 64 px, 2-3 epochs."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.platform.support.jobs import client, make_user, setup_project, submit, wait_epochs, wait_state
from tests.platform.support.server import ServerProcess, start_server

ENDED = {"completed", "failed", "stopped", "cancelled", "paused"}


@pytest.fixture
def cloud(tmp_path: Path, coco8_zip: Path) -> Iterator[tuple[ServerProcess, object, Path]]:
    home = tmp_path / "home"
    key = make_user(home, "alice")
    server = start_server(home)
    c = client(server.url, key)
    setup_project(c, coco8_zip)
    try:
        yield server, c, home
    finally:
        c.close()
        server.stop()
        for proc in _trainers(home):  # a failed test leaves no trainer behind
            proc.kill()


def _trainers(home: Path) -> list[psutil.Process]:
    """The trainer processes (children of the workers) of this server's jobs."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmd = proc.info["cmdline"] or []
            if "yoloforge" in cmd and "train" in cmd and str(home) in (proc.info["cwd"] or ""):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _run_dir(home: Path, name: str) -> Path:
    return next((home / "jobs").glob(f"*/alice/demo/{name}"))


def _results(run: Path) -> list[dict[str, str]]:
    with open(run / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def _check_model(c, home: Path, name: str, epochs: int) -> dict:
    """Every epoch once, the platform's metrics equal to results.csv, its checkpoints equal to the run's files."""
    m = c.get(f"/projects/alice/demo/models/{name}").json()
    assert m["status"] == "completed"
    assert [r["epoch"] for r in m["metrics"]] == list(range(epochs))  # the trainer's 0-based epoch index
    run = _run_dir(home, name)
    rows = _results(run)
    assert [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))
    for row, stored in zip(rows, m["metrics"], strict=True):
        assert float(row["train/box_loss"]) == pytest.approx(stored["metrics"]["train/box_loss"])
    for ckpt in m["checkpoints"]:
        data = (run / "weights" / f"{ckpt['kind']}.pt").read_bytes()
        assert ckpt["sha256"] == hashlib.sha256(data).hexdigest() and ckpt["size"] == len(data)
        r = c.get(ckpt["download_url"].removeprefix("/api/v1"))
        assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == ckpt["sha256"]
    assert {c["kind"] for c in m["checkpoints"]} == {"last", "best"}
    return m


def test_submit_stop_resume_complete(cloud) -> None:
    _server, c, home = cloud
    r = submit(c, "alice", "m1", epochs=3)
    assert r.status_code == 201, r.text
    assert r.json()["job"]["state"] == "starting"  # a free slot: placed in the request
    wait_epochs(c, "alice", "m1", 1, timeout=300)
    assert wait_state(c, "alice", "m1", {"running"})["attempt"] == 1
    t0 = time.monotonic()
    r = c.post("/projects/alice/demo/models/m1/stop")
    assert r.status_code == 200 and r.json()["want"] == "stop"
    j = wait_state(c, "alice", "m1", ENDED, timeout=120)
    stop_seconds = time.monotonic() - t0
    assert j["state"] == "stopped", j
    print(f"\nstop -> stopped in {stop_seconds:.1f} s")
    assert c.get("/gpus").json()[0]["free"] == 2  # the slot is released
    assert (_run_dir(home, "m1") / "weights" / "last.pt").is_file()
    assert c.post("/projects/alice/demo/models/m1/stop").status_code == 409  # already stopped
    r = c.post("/projects/alice/demo/models/m1/resume")
    assert r.status_code == 200, r.text
    j = wait_state(c, "alice", "m1", ENDED, timeout=400)
    assert j["state"] == "completed", j
    assert j["attempt"] == 2
    states = [t["to_state"] for t in j["transitions"]]
    assert states == ["queued", "starting", "downloading", "running", "stopped",
                      "queued", "starting", "downloading", "running", "completed"]  # fmt: skip
    _check_model(c, home, "m1", 3)
    notes = c.get("/notifications").json()["items"]
    assert [n["kind"] for n in notes] == ["job.completed", "job.stopped"]
    assert c.post("/projects/alice/demo/models/m1/resume").status_code == 409  # completed: nothing to resume


def test_killed_worker_is_restarted_from_last_checkpoint(cloud) -> None:
    _server, c, home = cloud
    assert submit(c, "alice", "m2", epochs=2).status_code == 201
    wait_epochs(c, "alice", "m2", 1, timeout=300)
    trainers = _trainers(home)
    assert len(trainers) == 1
    os.kill(trainers[0].pid, signal.SIGKILL)
    j = wait_state(c, "alice", "m2", ENDED, timeout=400)
    assert j["state"] == "completed", j
    states = [t["to_state"] for t in j["transitions"]]
    assert "retrying" in states and j["restarts"] == 1 and j["attempt"] == 2
    retry = next(t for t in j["transitions"] if t["to_state"] == "retrying")
    assert "exit code -9" in retry["reason"]
    _check_model(c, home, "m2", 2)


def test_server_killed_and_restarted_during_a_job(cloud) -> None:
    server, c, home = cloud
    assert submit(c, "alice", "m3", epochs=2).status_code == 201
    wait_state(c, "alice", "m3", {"running"}, timeout=300)
    trainer = _trainers(home)
    assert len(trainer) == 1
    server.proc.send_signal(signal.SIGKILL)  # no shutdown at all
    server.proc.wait()
    time.sleep(2)
    assert trainer[0].is_running()  # the job outlives its server
    port = int(server.url.rsplit(":", 1)[1])
    again = start_server(home, port=port)
    try:
        j = wait_state(c, "alice", "m3", ENDED, timeout=400)
        assert j["state"] == "completed", j
        assert j["attempt"] == 1 and j["restarts"] == 0  # attached again: nothing started twice
        _check_model(c, home, "m3", 2)
    finally:
        again.stop()
