"""Scheduling is a database transaction: 50 submissions at once against a real server start exactly what the
quotas and the pool allow, on SQLite and PostgreSQL; the rest wait in FIFO order with their queue position."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.platform.support.jobs import TINY, client, make_user, setup_project, wait_state
from tests.platform.support.server import start_server

ACTIVE = {"starting", "downloading", "running"}
N = 50
CATALOG = """
pools:
  local-cpu: {executor: local, capacity: 3}
types:
  - {name: cpu, vram_gb: 0, hourly_usd: "0", pool: local-cpu}
  - {name: h100-80gb, vram_gb: 80, hourly_usd: "3.99", pool: null}
"""


def _body(i: int, owner: str = "root") -> dict:
    return {**TINY, "name": f"m{i}", "dataset": f"{owner}/coco8", "epochs": 100}  # runs until cancelled


def _cancel_active(c: httpx.Client, owner: str, names: list[str]) -> None:
    for name in names:
        c.post(f"/projects/{owner}/demo/models/{name}/cancel")
    for name in names:
        assert wait_state(c, owner, name, {"cancelled"}, timeout=120)["state"] == "cancelled"


def test_fifty_concurrent_submissions(tmp_path: Path, db_url: str, coco8_zip: Path) -> None:
    home = tmp_path / "home"
    catalog = tmp_path / "gpus.yaml"
    catalog.write_text(CATALOG)
    key = make_user(home, "root", admin=True, db=db_url)
    server = start_server(home, "--database-url", db_url, "--gpu-catalog", str(catalog))
    root = client(server.url, key)
    try:
        setup_project(root, coco8_zip, visibility="public")
        # one account, quota 1: exactly one starts, 49 wait with positions 1..49
        with ThreadPoolExecutor(N) as pool:
            codes = list(pool.map(lambda i: root.post("/projects/root/demo/models", json=_body(i)).status_code,
                                  range(N)))  # fmt: skip
        assert codes == [201] * N
        jobs = {f"m{i}": root.get(f"/projects/root/demo/models/m{i}/job").json() for i in range(N)}
        active = [n for n, j in jobs.items() if j["state"] in ACTIVE]
        assert len(active) == 1, {n: j["state"] for n, j in jobs.items()}
        assert sorted(j["queue_position"] for j in jobs.values() if j["state"] == "queued") == list(range(1, N))
        assert root.get("/users/root/quota").json() == {"user": "root", "max_running": 1, "running": 1}
        gpus = {g["name"]: g for g in root.get("/gpus").json()}
        assert gpus["cpu"]["free"] == 2 and not gpus["h100-80gb"]["available"]
        r = root.post("/projects/root/demo/models", json={**_body(99), "gpu": "h100-80gb"})
        assert r.status_code == 422 and "not available" in r.json()["detail"]
        for name in jobs:  # the queue first (a cancelled slot would start the next), then the running one
            if name not in active:
                assert root.post(f"/projects/root/demo/models/{name}/cancel").status_code == 200
        _cancel_active(root, "root", active)
        assert {g["name"]: g for g in root.get("/gpus").json()}["cpu"]["free"] == 3
        # 50 accounts, one submission each: exactly the pool's 3 free slots start
        keys = []
        for i in range(N):
            name = f"user{i}"
            assert root.post("/users", json={"name": name, "password": f"{name} long password"}).status_code == 201
            with httpx.Client(base_url=f"{server.url}/api/v1") as anon:
                assert anon.post("/auth/login", json={"name": name, "password": f"{name} long password"}).is_success
                keys.append(anon.post("/keys", json={"name": "k"}).json()["key"])
        clients = [client(server.url, k) for k in keys]
        for i, c in enumerate(clients):
            assert c.post("/projects", json={"name": "demo"}).status_code == 201, i
        with ThreadPoolExecutor(N) as pool:
            codes = list(pool.map(lambda ic: ic[1].post(f"/projects/user{ic[0]}/demo/models",
                                                        json=_body(0, "root")).status_code,
                                  enumerate(clients)))  # fmt: skip
        assert codes == [201] * N
        states = [c.get(f"/projects/user{i}/demo/models/m0/job").json()["state"] for i, c in enumerate(clients)]
        started = [i for i, s in enumerate(states) if s in ACTIVE]
        assert len(started) == 3 and states.count("queued") == N - 3, dict(enumerate(states))
        for i in range(N):
            if i not in started:
                clients[i].post(f"/projects/user{i}/demo/models/m0/cancel")
        for i in started:
            _cancel_active(clients[i], f"user{i}", ["m0"])
        for c in clients:
            c.close()
    finally:
        root.close()
        server.stop()
