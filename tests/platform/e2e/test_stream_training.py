"""Real training streamed by our client into a real server process: everything arrives once, a stop from the
server ends the run and its resume gives every epoch once, a SIGKILLed trainer's run becomes lost and continues
when resumed, and a server that dies for a while or fails 30% of the requests loses nothing."""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.platform.support.server import ServerProcess, clean_env, free_port, run_cli, start_server

TRAIN = ["detect", "train", "data=coco8.yaml", "model=yolov8n.yaml", "imgsz=64", "batch=2", "workers=0", "device=cpu",
         "plots=False", "project=alice/detector", "val=True"]  # fmt: skip
BASE = "/api/v1/projects/alice/detector/models"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stream") / "home"


@pytest.fixture(scope="module")
def key(home: Path) -> str:
    assert (
        run_cli("server", "create-user", "alice", "--home", str(home), stdin="a long enough password\n").returncode == 0
    )
    r = run_cli("server", "create-key", "alice", "--home", str(home))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def server_env(**extra: str) -> dict[str, str]:
    return clean_env(YOLOFORGE_SERVER_LOST_AFTER_SECONDS="2", **extra)


@pytest.fixture(scope="module")
def server(home: Path, key: str) -> Iterator[ServerProcess]:
    proc = start_server(home, env=server_env())
    yield proc
    proc.stop()


def trainer_env(server_url: str, key: str) -> dict[str, str]:
    return clean_env(YOLOFORGE_PLATFORM_URL=server_url, YOLOFORGE_API_KEY=key, YOLOFORGE_PLATFORM_POLL_SECONDS="0.5",
                     YOLOFORGE_CONFIG_DIR=os.environ["YOLOFORGE_CONFIG_DIR"])  # fmt: skip


def train(cwd: Path, url: str, key: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "yoloforge", *args]
    return subprocess.run(cmd, cwd=cwd, env=trainer_env(url, key), capture_output=True, text=True, timeout=timeout)


def start_training(cwd: Path, url: str, key: str, *args: str) -> subprocess.Popen:
    log = open(cwd / f"train-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "yoloforge", *args], cwd=cwd, env=trainer_env(url, key),
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


def api(url: str, key: str, path: str) -> dict:
    r = httpx.get(f"{url}{BASE}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(check, timeout: float = 600, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def epochs_on_server(url: str, key: str, name: str) -> list[int]:
    try:
        return [m["epoch"] for m in api(url, key, f"/{name}/metrics")["items"]]
    except AssertionError:
        return []


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def local_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "results.csv") as f:
        return list(csv.DictReader(f))


def assert_complete(url: str, key: str, name: str, run_dir: Path, epochs: int) -> dict:
    model = api(url, key, f"/{name}")
    assert model["status"] == "completed", model["status"]
    metrics = api(url, key, f"/{name}/metrics")["items"]
    assert [m["epoch"] for m in metrics] == list(range(epochs))
    for row, m in zip(local_rows(run_dir), metrics, strict=True):  # results.csv rounds to 5 significant digits
        for column in ("metrics/mAP50-95(B)", "train/box_loss", "val/cls_loss"):
            assert float(row[column]) == pytest.approx(m["metrics"][column], rel=1e-4, abs=1e-5)
    ckpts = {c["kind"]: c for c in model["checkpoints"]}
    assert ckpts["best"]["sha256"] == sha(run_dir / "weights" / "best.pt")
    assert ckpts["last"]["sha256"] == sha(run_dir / "weights" / "last.pt")
    assert not list((run_dir / "platform" / "spool").glob("*_*/0*"))  # nothing left waiting
    return model


def console_text(url: str, key: str, name: str) -> list[str]:
    return [line["text"] for line in api(url, key, f"/{name}/console?limit=5000")["lines"]]


def test_a_run_arrives_whole(server: ServerProcess, key: str, tmp_path: Path) -> None:
    r = train(tmp_path, server.url, key, *TRAIN, "epochs=2", "name=whole")
    assert r.returncode == 0, r.stderr[-3000:]
    run_dir = tmp_path / "alice" / "detector" / "whole"
    model = assert_complete(server.url, key, "whole", run_dir, 2)
    assert model["final_metrics"] and "metrics/mAP50-95(B)" in model["final_metrics"]
    lines = console_text(server.url, key, "whole")
    assert any("Training for 2 epochs" in line for line in lines)
    assert model["settings"]["imgsz"] == 64 and model["source"] == "remote"
    system = api(server.url, key, "/whole/system")["items"]
    assert system and "cpu" in system[0]["data"]


def test_a_run_that_ended_offline_is_sent_by_sync(server: ServerProcess, key: str, tmp_path: Path) -> None:
    """The platform is unreachable for the whole run: training ends normally with its events spooled and says how
    to send them; `yoloforge sync` sends them (run, epochs, console, checkpoints) once the server is reachable."""
    offline = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {**trainer_env(offline, key), "YOLOFORGE_PLATFORM_FLUSH_SECONDS": "1"}
    r = subprocess.run([sys.executable, "-m", "yoloforge", *TRAIN, "epochs=2", "name=offline"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "yoloforge sync" in r.stderr
    run_dir = tmp_path / "alice" / "detector" / "offline"
    assert list((run_dir / "platform" / "spool").glob("*_*/0*.epoch"))

    def sync(url: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "yoloforge", "sync", *args], cwd=tmp_path,
                              env=trainer_env(url, key), capture_output=True, text=True, timeout=300)  # fmt: skip

    still = sync(offline, "--timeout", "2")  # still unreachable: exit 1, nothing lost
    assert still.returncode == 1 and "still waiting" in still.stdout, still.stdout + still.stderr
    done = sync(server.url)  # default: the current folder and below
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alice/detector/offline: sent" in done.stdout
    assert_complete(server.url, key, "offline", run_dir, 2)
    again = sync(server.url, str(run_dir))
    assert again.returncode == 0 and "nothing waits" in again.stdout
    no_key = subprocess.run([sys.executable, "-m", "yoloforge", "sync"], cwd=tmp_path, capture_output=True, text=True,
                            env=clean_env(YOLOFORGE_CONFIG_DIR=str(tmp_path / "no-config")))  # fmt: skip
    assert no_key.returncode == 2 and "yoloforge login" in no_key.stderr


def test_stop_from_the_server_then_resume_gives_every_epoch_once(
    server: ServerProcess, key: str, tmp_path: Path
) -> None:
    from yoloforge.platform.db import Model
    from yoloforge.platform.db.session import Database
    from yoloforge.platform.services import stream_runs

    proc = start_training(tmp_path, server.url, key, *TRAIN, "epochs=5", "name=halt")
    wait_for(lambda: epochs_on_server(server.url, key, "halt"), what="the first epoch")
    db = Database(f"sqlite:///{server_home(server) / 'yoloforge.db'}")
    with db.sessions() as s:
        model = s.query(Model).filter_by(name="halt").one()
        assert stream_runs.request_stop(s, model)
    asked = time.monotonic()
    assert proc.wait(timeout=600) == 143
    took = time.monotonic() - asked
    db.dispose()
    wait_for(lambda: api(server.url, key, "/halt")["status"] == "stopped", what="stopped", timeout=120)
    done = epochs_on_server(server.url, key, "halt")
    assert len(done) < 5, f"the stop took {took:.1f} s and came too late to stop anything"
    run_dir = tmp_path / "alice" / "detector" / "halt"
    last = api(server.url, key, "/halt")["checkpoints"]
    assert {c["kind"] for c in last} >= {"last"}
    r = train(tmp_path, server.url, key, "train", "resume", f"model={run_dir / 'weights' / 'last.pt'}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert_complete(server.url, key, "halt", run_dir, 5)


def server_home(server: ServerProcess) -> Path:
    return Path(server.proc.args[server.proc.args.index("--home") + 1])


def test_killed_trainer_is_lost_then_resumed_continues(server: ServerProcess, key: str, tmp_path: Path) -> None:
    proc = start_training(tmp_path, server.url, key, *TRAIN, "epochs=3", "name=crash")
    run_dir = tmp_path / "alice" / "detector" / "crash"
    wait_for(lambda: epochs_on_server(server.url, key, "crash") and (run_dir / "weights" / "last.pt").exists(),
             what="an epoch on the server")  # fmt: skip
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    wait_for(lambda: api(server.url, key, "/crash")["status"] == "lost", what="lost", timeout=120)
    r = train(tmp_path, server.url, key, "train", "resume", f"model={run_dir / 'weights' / 'last.pt'}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert_complete(server.url, key, "crash", run_dir, 3)


def test_server_down_for_a_while_loses_nothing(home: Path, key: str, server: ServerProcess, tmp_path: Path) -> None:
    """The server is killed in the middle of the run and comes back (same port, same data) some seconds later."""
    own = start_server(home.parent / "outage-home", env=server_env())
    try:
        own_key = _account(own)
        proc = start_training(tmp_path, own.url, own_key, *TRAIN, "epochs=4", "name=outage")
        wait_for(lambda: epochs_on_server(own.url, own_key, "outage"), what="the first epoch")
        port = int(own.url.rsplit(":", 1)[1])
        own.proc.kill()
        own.proc.wait()
        time.sleep(4)  # the suite's outage; bench/platform_stream.py has the 60 s one
        own = start_server(home.parent / "outage-home", env=server_env(), port=port)
        assert proc.wait(timeout=900) == 0
        run_dir = tmp_path / "alice" / "detector" / "outage"
        assert_complete(own.url, own_key, "outage", run_dir, 4)
        lines = console_text(own.url, own_key, "outage")
        assert sum("Training for 4 epochs" in line for line in lines) == 1  # each line once
    finally:
        own.stop()


def _account(server: ServerProcess) -> str:
    h = server_home(server)
    run_cli("server", "create-user", "alice", "--home", str(h), stdin="a long enough password\n")
    r = run_cli("server", "create-key", "alice", "--home", str(h))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_a_server_failing_30_percent_of_requests_loses_nothing(home: Path, key: str, tmp_path: Path) -> None:
    flaky = start_server(home.parent / "flaky-home", env=server_env(YOLOFORGE_SERVER_FAULT_RATE="0.3",
                                                                      YOLOFORGE_SERVER_FAULT_SEED="7"))  # fmt: skip
    try:
        flaky_key = _account(flaky)
        r = train(tmp_path, flaky.url, flaky_key, *TRAIN, "epochs=2", "name=flaky")
        assert r.returncode == 0, r.stderr[-3000:]
        run_dir = tmp_path / "alice" / "detector" / "flaky"
        assert_complete(flaky.url, flaky_key, "flaky", run_dir, 2)
        lines = console_text(flaky.url, flaky_key, "flaky")
        assert sum("Training for 2 epochs" in line for line in lines) == 1
    finally:
        flaky.stop()
