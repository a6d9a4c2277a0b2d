"""Models (runs): rows written through the service layer, as the streaming and jobs services will, then
read, downloaded and deleted through the API."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select


def _seed(app, fixtures_dir: Path):
    """Model 'exp1' in alice/detector with 3 epochs of metrics and best/last checkpoints."""
    from yoloforge.platform.db import Project
    from yoloforge.platform.services import models

    state = app.state.platform
    weights = fixtures_dir / "yolo11n-random.pt"
    with state.db.sessions() as s:
        project = s.scalar(select(Project).where(Project.name == "detector"))
        model = models.create_model(
            s, project, "exp1", source="remote", status="running", settings={"epochs": 3, "imgsz": 64}
        )
        for epoch in range(3):
            models.record_epoch(s, model, epoch, {"metrics/mAP50-95(B)": 0.1 * epoch, "train/box_loss": 3.0 - epoch})
        models.record_epoch(s, model, 1, {"metrics/mAP50-95(B)": 99.0})  # a replay changes nothing
        with open(weights, "rb") as f:
            models.store_checkpoint(s, state.storage, model, "best", f, epoch=2)
        with open(weights, "rb") as f:
            first_last = models.store_checkpoint(s, state.storage, model, "last", f, epoch=1)
        first_key = first_last.storage_key
        with open(weights, "rb") as f:
            models.store_checkpoint(s, state.storage, model, "last", f, epoch=2)  # replaces the older last
        model.best_metrics = {"metrics/mAP50-95(B)": 0.2}
        s.commit()
        model_id = model.id
    return model_id, first_key, weights


def test_model_routes(app, client, alice, fixtures_dir) -> None:
    client.post("/api/v1/projects", headers=alice.auth(), json={"name": "detector"})
    model_id, first_key, weights = _seed(app, fixtures_dir)
    storage = app.state.platform.storage
    assert not storage.exists(first_key)  # the replaced checkpoint's file is gone

    page = client.get("/api/v1/projects/alice/detector/models", headers=alice.auth()).json()
    assert page["total"] == 1
    assert {k: page["items"][0][k] for k in ("name", "source", "status", "epochs_done")} == {
        "name": "exp1",
        "source": "remote",
        "status": "running",
        "epochs_done": 3,
    }
    assert client.get("/api/v1/projects/alice/detector", headers=alice.auth()).json()["models"] == 1
    m = client.get("/api/v1/projects/alice/detector/models/exp1", headers=alice.auth()).json()
    assert m["settings"] == {"epochs": 3, "imgsz": 64} and m["best_metrics"] == {"metrics/mAP50-95(B)": 0.2}
    assert [r["epoch"] for r in m["metrics"]] == [0, 1, 2]
    assert m["metrics"][1]["metrics"] == {"metrics/mAP50-95(B)": 0.1, "train/box_loss": 2.0}
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert {c["kind"]: (c["epoch"], c["size"], c["sha256"]) for c in m["checkpoints"]} == {
        "best": (2, weights.stat().st_size, digest),
        "last": (2, weights.stat().st_size, digest),
    }

    r = client.get("/api/v1/projects/alice/detector/models/exp1/checkpoints/best", headers=alice.auth())
    assert r.status_code == 200 and r.headers["x-checksum-sha256"] == digest == hashlib.sha256(r.content).hexdigest()
    link = next(c["download_url"] for c in m["checkpoints"] if c["kind"] == "last")
    assert hashlib.sha256(client.get(link).content).hexdigest() == digest  # signed link, no key
    assert client.get(link.replace("/last?", "/best?")).status_code == 401  # the link is for 'last' only
    r = client.get("/api/v1/projects/alice/detector/models/exp1/checkpoints/final", headers=alice.auth())
    assert r.status_code == 404 and "has no 'final' checkpoint (it has: best, last)" in r.json()["detail"]
    r = client.get("/api/v1/projects/alice/detector/models/exp1/checkpoints/worst", headers=alice.auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"

    keys = [c.storage_key for c in _checkpoints(app, model_id)]
    assert client.delete("/api/v1/projects/alice/detector/models/exp1", headers=alice.auth("read")).status_code == 403
    assert client.delete("/api/v1/projects/alice/detector/models/exp1", headers=alice.auth()).status_code == 204
    assert client.get("/api/v1/projects/alice/detector/models/exp1", headers=alice.auth()).status_code == 404
    assert not any(storage.exists(k) for k in keys) and _checkpoints(app, model_id) == []


def test_deleting_a_project_removes_its_models_files(app, client, alice, fixtures_dir) -> None:
    client.post("/api/v1/projects", headers=alice.auth(), json={"name": "detector"})
    model_id, _, _ = _seed(app, fixtures_dir)
    keys = [c.storage_key for c in _checkpoints(app, model_id)]
    assert len(keys) == 2 and all(app.state.platform.storage.exists(k) for k in keys)
    assert client.delete("/api/v1/projects/alice/detector", headers=alice.auth()).status_code == 204
    assert not any(app.state.platform.storage.exists(k) for k in keys) and _checkpoints(app, model_id) == []


def test_model_names_are_unique_per_project(app, client, alice) -> None:
    import pytest

    from yoloforge.platform.db import Project
    from yoloforge.platform.services import models
    from yoloforge.platform.services.errors import Conflict, Invalid

    client.post("/api/v1/projects", headers=alice.auth(), json={"name": "p"})
    with app.state.platform.db.sessions() as s:
        project = s.scalar(select(Project).where(Project.name == "p"))
        models.create_model(s, project, "m", source="cloud")
        with pytest.raises(Conflict, match="already has a model named 'm'"):
            models.create_model(s, project, "m", source="remote")
        with pytest.raises(Invalid, match="source 'laptop'"):
            models.create_model(s, project, "n", source="laptop")


def _checkpoints(app, model_id: int) -> list:
    from yoloforge.platform.db import Checkpoint

    with app.state.platform.db.sessions() as s:
        return list(s.scalars(select(Checkpoint).where(Checkpoint.model_id == model_id)))
