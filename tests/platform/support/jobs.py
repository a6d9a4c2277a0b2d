"""Cloud jobs against a real server process: accounts made with the CLI, coco8 uploaded, jobs submitted and
waited for over HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.platform.support.server import run_cli

# a tiny run: coco8 at 64 px, from scratch, no plots, data loading in the trainer's process
TINY = {"model": "yolo11n.yaml", "imgsz": 64, "batch": 4, "gpu": "cpu",
        "args": {"workers": 0, "plots": False, "seed": 1}}  # fmt: skip


def make_user(home: Path, name: str, *, admin: bool = False, db: str | None = None) -> str:
    """Create `name` with the CLI (before the server starts) and return a key (admin scope for an admin)."""
    where = ["--home", str(home), *(["--database-url", db] if db else [])]
    r = run_cli("server", "create-user", name, *where, *(["--admin"] if admin else []),
                stdin=f"{name} password long enough\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run_cli("server", "create-key", name, "--scope", "admin" if admin else "train", *where)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def client(url: str, key: str) -> httpx.Client:
    """An API client of `key`. Idle connections are dropped after 2 s, before uvicorn closes them at 5 s: reusing
    one the server is closing at that moment is "Server disconnected without sending a response"."""
    limits = httpx.Limits(keepalive_expiry=2)
    return httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60,
                        limits=limits)  # fmt: skip


def setup_project(c: httpx.Client, coco8_zip: Path, project: str = "demo", visibility: str = "private") -> None:
    """Upload coco8 as the caller's dataset `coco8` and create `project`."""
    with open(coco8_zip, "rb") as f:
        r = c.post("/datasets", files={"file": ("coco8.zip", f)}, data={"name": "coco8", "visibility": visibility})
    assert r.status_code == 201, r.text
    assert c.post("/projects", json={"name": project}).status_code == 201


def submit(c: httpx.Client, owner: str, name: str, project: str = "demo", **over: Any) -> httpx.Response:
    body = {**TINY, "name": name, "dataset": f"{owner}/coco8", "epochs": 2, **over}
    return c.post(f"/projects/{owner}/{project}/models", json=body)


def job(c: httpx.Client, owner: str, name: str, project: str = "demo") -> dict[str, Any]:
    r = c.get(f"/projects/{owner}/{project}/models/{name}/job")
    assert r.status_code == 200, r.text
    return r.json()


def wait_state(c: httpx.Client, owner: str, name: str, states: set[str], timeout: float = 120,
               project: str = "demo") -> dict[str, Any]:  # fmt: skip
    """Poll the job until its state is one of `states`; AssertionError with its history after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        j = job(c, owner, name, project)
        if j["state"] in states:
            return j
        if time.monotonic() > deadline:
            raise AssertionError(f"job of {name} is {j['state']} after {timeout} s, wanted {states}: {j}")
        time.sleep(0.3)


def wait_epochs(c: httpx.Client, owner: str, name: str, n: int, timeout: float = 120, project: str = "demo") -> None:
    """Wait until the model has metrics for at least `n` epochs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.get(f"/projects/{owner}/{project}/models/{name}").json()
        if m["epochs_done"] >= n:
            return
        time.sleep(0.3)
    raise AssertionError(f"model {name} has fewer than {n} epochs after {timeout} s")
