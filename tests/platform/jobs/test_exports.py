"""Exports from the platform: the library's exporter runs as a subprocess on a CPU slot, the file is stored with
its sha256 and downloadable; a failed export says why."""

from __future__ import annotations

import hashlib
import time

import pytest
from sqlalchemy import select


@pytest.fixture
def model_with_weights(app, client, alice, fixtures_dir):
    from yoloforge.platform.db import Project
    from yoloforge.platform.services import models

    assert client.post("/api/v1/projects", headers=alice.auth(), json={"name": "demo"}).status_code == 201
    state = app.state.platform
    with state.db.sessions() as s:
        project = s.scalar(select(Project).where(Project.name == "demo"))
        model = models.create_model(s, project, "m", source="cloud", status="completed", settings={"imgsz": 64})
        with open(fixtures_dir / "yolo11n-random.pt", "rb") as f:
            models.store_checkpoint(s, state.storage, model, "best", f, epoch=1)
    return "/api/v1/projects/alice/demo/models/m/exports"


def _run(app, url: str, client, alice, timeout: float = 300) -> list[dict]:
    from yoloforge.platform.services.exports import ExportRunner

    runner = ExportRunner(app.state.platform, slots=2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.tick()
        rows = client.get(url, headers=alice.auth()).json()
        if all(r["status"] in ("completed", "failed") for r in rows):
            return rows
        time.sleep(0.5)
    raise AssertionError(f"exports not done after {timeout} s")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_export_onnx_and_torchscript(app, client, alice, bob, model_with_weights) -> None:
    url = model_with_weights
    for fmt in ("onnx", "torchscript"):
        r = client.post(url, headers=alice.auth(), json={"format": fmt})
        assert r.status_code == 202 and r.json()["status"] == "queued"
    r = client.post(url, headers=alice.auth(), json={"format": "onnx", "checkpoint": "last"})
    assert r.status_code == 404 and "has no 'last' checkpoint" in r.json()["detail"]
    assert client.post(url, headers=alice.auth(), json={"format": "tflite"}).status_code == 422
    rows = _run(app, url, client, alice)
    assert {r["format"]: r["status"] for r in rows} == {"onnx": "completed", "torchscript": "completed"}, rows
    for row in rows:
        r = client.get(row["download_url"], headers=alice.auth())
        assert r.status_code == 200 and len(r.content) == row["size"] > 100_000
        assert hashlib.sha256(r.content).hexdigest() == row["sha256"] == r.headers["X-Checksum-SHA256"]
        assert row["filename"] == {"onnx": "m-best.onnx", "torchscript": "m-best.torchscript"}[row["format"]]
        assert client.get(row["download_url"], headers=bob.auth()).status_code == 404
    onnx = next(r for r in rows if r["format"] == "onnx")
    import onnx as onnx_lib

    proto = onnx_lib.load_from_string(client.get(onnx["download_url"], headers=alice.auth()).content)
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim][2:] == [64, 64]
