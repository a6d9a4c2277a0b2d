"""The Ray executor on a local Ray cluster started by the test (CPU only; two custom resources stand for two GPU
types): a job on each type is placed by Ray on the resource its pool asks for; one completes, one is stopped
gracefully through its actor."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from tests.platform.support.jobs import client, make_user, setup_project, submit, wait_state
from tests.platform.support.server import start_server

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

CATALOG = """
pools:
  ray-a: {executor: ray, capacity: 1, num_cpus: 1, resources: {gpu-a: 1}}
  ray-b: {executor: ray, capacity: 1, num_cpus: 1, resources: {gpu-b: 1}}
types:
  - {name: a100-80gb, vram_gb: 80, hourly_usd: "0", pool: ray-a}
  - {name: h100-80gb, vram_gb: 80, hourly_usd: "0", pool: ray-b}
"""
ENDED = {"completed", "failed", "stopped", "cancelled", "paused"}


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch):
    """A local Ray cluster of this test process: 2 CPUs, one `gpu-a` and one `gpu-b` resource."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a loopback test cluster; the server inherits the variable
    temp = tempfile.mkdtemp(prefix="yfray", dir="/tmp")  # Ray's socket paths must stay under 108 bytes
    ctx = ray.init(num_cpus=2, resources={"gpu-a": 1, "gpu-b": 1}, include_dashboard=False, _temp_dir=temp,
                   log_to_driver=False)  # fmt: skip
    try:
        yield ctx.address_info["gcs_address"]
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_places_jobs_on_their_gpu_type(tmp_path: Path, cluster: str, coco8_zip: Path) -> None:
    home = tmp_path / "home"
    catalog = tmp_path / "gpus.yaml"
    catalog.write_text(CATALOG)
    alice, bob = make_user(home, "alice"), make_user(home, "bob")
    server = start_server(home, "--gpu-catalog", str(catalog), "--ray-address", cluster)
    a, b = client(server.url, alice), client(server.url, bob)
    try:
        setup_project(a, coco8_zip)
        setup_project(b, coco8_zip)
        assert {g["name"]: g["executor"] for g in a.get("/gpus").json()} == {"a100-80gb": "ray", "h100-80gb": "ray"}
        assert submit(a, "alice", "on-a", gpu="a100-80gb", epochs=1).status_code == 201
        assert submit(b, "bob", "on-b", gpu="h100-80gb", epochs=3).status_code == 201
        wait_state(b, "bob", "on-b", {"running"}, timeout=180)
        assert b.post("/projects/bob/demo/models/on-b/stop").status_code == 200
        jb = wait_state(b, "bob", "on-b", ENDED, timeout=180)
        assert jb["state"] == "stopped" and jb["executor"] == "ray", (jb, _log(home))
        ja = wait_state(a, "alice", "on-a", ENDED, timeout=300)
        assert ja["state"] == "completed" and ja["pool"] == "ray-a", ja
        m = a.get("/projects/alice/demo/models/on-a").json()
        assert m["epochs_done"] == 1 and {c["kind"] for c in m["checkpoints"]} == {"last", "best"}
        with sqlite3.connect(home / "yoloforge.db") as db:
            handles = {i: json.loads(h) for i, h in db.execute("SELECT id, handle FROM jobs")}
        assert handles[1]["actor"] == "yoloforge-job-1-1" and handles[1]["placement"]["gpu-a"] == 1
        assert "gpu-b" not in handles[1]["placement"] and handles[2]["placement"]["gpu-b"] == 1
    finally:
        a.close()
        b.close()
        server.stop()


def _log(home: Path) -> str:
    return "\n".join(p.read_text()[-1500:] for p in (home / "jobs").glob("*/train.log"))
