"""The SSE stream of a model on a real server process: every new event is delivered, `Last-Event-ID` resumes
exactly after the last one seen, and another account cannot subscribe. Also `yoloforge login/logout` against it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.platform.support.server import ServerProcess, clean_env, run_cli, start_server

RUN = "5" * 32


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str, str]]:
    home = tmp_path_factory.mktemp("sse") / "home"
    keys = []
    for name in ("alice", "bob"):
        assert (
            run_cli("server", "create-user", name, "--home", str(home), stdin="a long enough password\n").returncode
            == 0
        )
        keys.append(run_cli("server", "create-key", name, "--home", str(home)).stdout.strip())
    proc = start_server(home)
    yield proc, keys[0], keys[1]
    proc.stop()


def post(url: str, key: str, events: list[dict]) -> httpx.Response:
    body = {"protocol": 1, "project": "alice/live", "model": "m", "events": events}
    return httpx.post(f"{url}/api/v1/stream/runs/{RUN}/events", json=body, headers={"Authorization": f"Bearer {key}"})


def ev(seq: int, event_kind: str, **data) -> dict:
    return {"seq": seq, "kind": event_kind, "time": time.time(), "data": data}


def read_sse(url: str, key: str, n: int, last_id: str | None = None, timeout: float = 30) -> list[dict]:
    """The first `n` messages of the stream (id, event, data)."""
    headers = {"Authorization": f"Bearer {key}"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    out: list[dict] = []
    msg: dict = {}
    with httpx.stream("GET", f"{url}/api/v1/projects/alice/live/models/m/events", headers=headers,
                      timeout=timeout) as r:  # fmt: skip
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if "id" in msg:
                    out.append(msg)
                    if len(out) == n:
                        return out
                msg = {}
                continue
            field, _, value = line.partition(": ")
            if field in ("id", "event"):
                msg[field] = value
            elif field == "data":
                msg["data"] = json.loads(value)
    return out


def test_live_delivery_and_resume(server) -> None:
    proc, alice, bob = server
    assert post(proc.url, alice, [ev(1, "start"), ev(2, "epoch", epoch=0, metrics={"fitness": 0.1})]).status_code == 200
    got: list[dict] = []
    reader = threading.Thread(target=lambda: got.extend(read_sse(proc.url, alice, 4)))
    reader.start()
    time.sleep(1.0)  # the reader is now waiting for new events
    assert (
        post(proc.url, alice, [ev(3, "console", lines=["hello"]), ev(4, "epoch", epoch=1, metrics={})]).status_code
        == 200
    )
    reader.join(30)
    assert [(m["id"], m["event"]) for m in got] == [("1", "start"), ("2", "epoch"), ("3", "console"), ("4", "epoch")]
    assert (
        got[2]["data"]["data"] == {"lines": ["hello"]} and got[2]["data"]["run"] == RUN and got[2]["data"]["seq"] == 3
    )
    post(proc.url, alice, [ev(5, "end", status="completed")])
    rest = read_sse(proc.url, alice, 1, last_id="4")  # resumes after the last one seen
    assert [(m["id"], m["event"]) for m in rest] == [("5", "end")]
    r = httpx.get(f"{proc.url}/api/v1/projects/alice/live/models/m/events", headers={"Authorization": f"Bearer {bob}"})
    assert r.status_code == 404
    r = httpx.get(f"{proc.url}/api/v1/projects/alice/live/models/m/events")
    assert r.status_code == 401


def test_login_checks_the_key_and_keeps_it_private(server, tmp_path: Path) -> None:
    import os
    import stat

    import yaml

    proc, alice, _ = server
    env = clean_env(YOLOFORGE_CONFIG_DIR=str(tmp_path / "config"))
    r = run_cli("login", "yf_" + "x" * 43, "--url", proc.url, env=env)
    assert (
        r.returncode == 2 and r.stderr.startswith("yoloforge login: error: the platform at") and "refused" in r.stderr
    )
    r = run_cli("login", alice, "--url", "http://127.0.0.1:9", env=env)
    assert r.returncode == 2 and "cannot reach the platform at http://127.0.0.1:9" in r.stderr
    assert not (tmp_path / "config" / "settings.yaml").exists()
    r = run_cli("login", alice, "--url", proc.url, env=env)
    assert r.returncode == 0 and "as alice" in r.stdout, r.stderr
    settings = tmp_path / "config" / "settings.yaml"
    assert stat.S_IMODE(os.stat(settings).st_mode) == 0o600
    assert yaml.safe_load(settings.read_text()) == {"api_key": alice, "platform_url": proc.url}
    r = run_cli("logout", env=env)
    assert r.returncode == 0 and "api_key" not in yaml.safe_load(settings.read_text())
