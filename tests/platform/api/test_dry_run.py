"""`POST .../models?dry_run=true`: a submission checked as a real one is, nothing created, answered with whether
the account may start it, the jobs waiting for its GPU type and the cost estimate (a range) at the catalog rate."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.platform.conftest import make_account, upload

CATALOG = """
pools:
  local-cpu: {executor: local, capacity: 1}
types:
  - {name: cpu, vram_gb: 0, hourly_usd: "0", pool: local-cpu}
  - {name: cpu-paid, label: "CPU (paid)", vram_gb: 0, hourly_usd: "36", pool: local-cpu, peak_tflops: 0.01}
  - {name: mystery, vram_gb: 8, hourly_usd: "1.00", pool: local-cpu}
"""
BODY = {"name": "exp1", "dataset": "alice/coco8", "model": "yolo11n", "epochs": 10, "imgsz": 640, "batch": 4,
        "gpu": "cpu-paid", "args": {"workers": 0}}  # fmt: skip


@pytest.fixture
def server_settings(server_settings, tmp_path: Path):
    """The shared settings with this module's GPU catalog and a $10 minimum to start on a paid type."""
    catalog = tmp_path / "gpus.yaml"
    catalog.write_text(CATALOG)
    return server_settings.model_copy(update={"gpu_catalog": catalog, "min_start_balance": Decimal(10)})


def _dry(client, account, body: dict, owner: str = "alice"):
    return client.post(f"/api/v1/projects/{owner}/demo/models?dry_run=true", headers=account.auth(), json=body)


def test_dry_run_estimates_and_creates_nothing(app, client, coco8_zip: Path) -> None:
    alice = make_account(app, "alice")
    assert upload(client, alice, coco8_zip, "coco8").status_code == 201
    assert client.post("/api/v1/projects", headers=alice.auth(), json={"name": "demo"}).status_code == 201

    r = _dry(client, alice, BODY)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["dry_run"] is True and p["dataset"] == "alice/coco8:1" and p["hourly_usd"] == "36"
    assert p["settings"]["data"] == "yf://alice/datasets/coco8:1" and p["settings"]["model"] == "yolo11n.pt"
    # $5 welcome credit is below this server's $10 minimum for a paid type: told why, with the figures
    assert p["can_start"] is False and "5.00" in p["reason"] and "10.00" in p["reason"]
    e = p["estimate"]
    assert e["images"] == 4 and e["epochs"] == 10 and e["rate_per_hour"] == "36" and "0.01 TFLOP/s" in e["basis"]
    low, high = Decimal(e["seconds"]["low"]), Decimal(e["seconds"]["high"])
    assert Decimal(0) < low < high
    # cost = rate x seconds, at 1 cent per second here (within rounding of the seconds to 0.1 s)
    assert abs(Decimal(e["cost"]["high"]) - high / 100) <= Decimal("0.01")

    # nothing was created: no model, no job, and the real submission is refused by the same balance rule
    assert client.get("/api/v1/projects/alice/demo/models/exp1", headers=alice.auth()).status_code == 404
    assert client.get("/api/v1/projects/alice/demo/models", headers=alice.auth()).json()["total"] == 0
    real = client.post("/api/v1/projects/alice/demo/models", headers=alice.auth(), json=BODY)
    assert real.status_code == 402 and real.json()["detail"] == p["reason"]

    # a free type may start; a queued job of another model counts as waiting
    free = _dry(client, alice, {**BODY, "gpu": "cpu"}).json()
    assert free["can_start"] is True and free["reason"] is None and free["estimate"]["cost"]["high"] == "0.00"
    assert client.post("/api/v1/projects/alice/demo/models", headers=alice.auth(),
                           json={**BODY, "gpu": "cpu"}).status_code == 201  # fmt: skip
    again = _dry(client, alice, {**BODY, "name": "exp2", "gpu": "cpu"}).json()
    assert again["waiting"] == 1  # no scheduler loop in this app: exp1 stays queued


def test_dry_run_checks_like_a_submission(app, client, coco8_zip: Path) -> None:
    alice, bob = make_account(app, "alice"), make_account(app, "bob")
    assert upload(client, alice, coco8_zip, "coco8").status_code == 201
    assert client.post("/api/v1/projects", headers=alice.auth(), json={"name": "demo"}).status_code == 201

    bad = _dry(client, alice, {**BODY, "args": {"lr9": 0.1}})
    assert bad.status_code == 422 and "args.lr9" in bad.json()["detail"]
    assert _dry(client, alice, {**BODY, "gpu": "tpu"}).status_code == 422
    # another account cannot preview into alice's project (the same answer a submission gets)
    theirs = _dry(client, bob, BODY)
    real = client.post("/api/v1/projects/alice/demo/models", headers=bob.auth(), json=BODY)
    assert theirs.status_code == real.status_code and theirs.status_code in (403, 404)
    # a taken name is a conflict, before anything would be queued
    assert client.post("/api/v1/projects/alice/demo/models", headers=alice.auth(),
                           json={**BODY, "gpu": "cpu"}).status_code == 201  # fmt: skip
    assert _dry(client, alice, BODY).status_code == 409
    # a type without a throughput figure: no estimate, and the note says what to set
    none = _dry(client, alice, {**BODY, "name": "exp3", "gpu": "mystery"}).json()
    assert none["estimate"] is None and "peak_tflops" in none["estimate_note"]
    # a custom architecture has no size figure: no estimate, the rest is answered
    custom = _dry(client, alice, {**BODY, "name": "exp4", "model": "my-net.yaml"}).json()
    assert custom["estimate"] is None and "my-net" in custom["estimate_note"]
