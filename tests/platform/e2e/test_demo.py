"""`yoloforge server --demo` (what `make serve` runs): an admin whose password is printed once, and the
packaged coco8 as a public dataset, created on the first start only."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.platform.support.server import start_server


def test_demo_bootstrap_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = start_server(home, "--demo")
    try:
        log = server.log.read_text()
        m = re.search(r"created admin account 'admin' with password: (\S+)", log)
        assert m, log
        assert f"yoloforge platform: {server.url}" in log and "yf://admin/datasets/coco8" in log
        with httpx.Client(base_url=server.url) as c:
            assert c.post("/api/v1/auth/login", json={"name": "admin", "password": m.group(1)}).status_code == 200
            datasets = c.get("/api/v1/datasets").json()["items"]
            assert [(d["owner"], d["name"], d["visibility"]) for d in datasets] == [("admin", "coco8", "public")]
            assert datasets[0]["versions"][0]["images"] == 8
    finally:
        server.stop()
    server = start_server(home, "--demo")  # a second start creates nothing and prints no password
    try:
        log = server.log.read_text()
        assert "password:" not in log and "admin account 'admin' exists" in log
        with httpx.Client(base_url=server.url) as c:
            assert c.post("/api/v1/auth/login", json={"name": "admin", "password": m.group(1)}).status_code == 200
            assert c.get("/api/v1/datasets").json()["total"] == 1
    finally:
        server.stop()
