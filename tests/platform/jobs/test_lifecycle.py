"""The job lifecycle through the API and the services (no worker runs: the scheduler loop is off in these apps):
validation naming the key, transitions with hooks, the start gate, stop/cancel/pause of waiting jobs, resume,
job tokens scoped to their model, notifications."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from tests.platform.conftest import upload

BODY = {"name": "exp", "dataset": "alice/coco8", "model": "yolo11n.yaml", "epochs": 2, "imgsz": 64, "gpu": "cpu"}
URL = "/api/v1/projects/alice/demo/models"


@pytest.fixture
def ready(client, alice, coco8_zip):
    assert client.post("/api/v1/projects", headers=alice.auth(), json={"name": "demo"}).status_code == 201
    assert upload(client, alice, coco8_zip, "coco8").status_code == 201
    yield
    from yoloforge.platform.services import job_hooks

    job_hooks.reset()


def _job(app, name: str = "exp"):
    from yoloforge.platform.db import Job, Model

    s = app.state.platform.db.sessions()
    return s, s.scalar(select(Job).join(Model).where(Model.name == name))


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"args": {"lr0": -1}}, "args.lr0", "greater than or equal"),
        ({"args": {"mosaik": 1.0}}, "args.mosaik", "not a training setting"),
        ({"args": {"data": "x.yaml"}}, "args.data", "set by the platform"),
        ({"epochs": 0}, "epochs", "greater than or equal"),
        ({"gpu": "tpu"}, "gpu", "unknown GPU type 'tpu'"),
        ({"gpu": "h100-80gb"}, "gpu", "not available on this server"),
        ({"model": "resnet50"}, "model", "use yolo11n"),
        ({"dataset": "alice/none"}, None, "not found"),
    ],
)
def test_bad_settings_name_the_key(client, alice, ready, change, field, words) -> None:
    r = client.post(URL, headers=alice.auth(), json={**BODY, **change})
    assert r.status_code in (404, 422), r.text
    detail = r.json()["detail"]
    assert words in detail and (field is None or field in detail), detail


def test_transitions_hooks_and_gate(app, client, alice, bob, ready) -> None:
    from yoloforge.platform.services import job_hooks, jobs
    from yoloforge.platform.services.errors import ServiceError

    seen = []
    job_hooks.on_transition(lambda s, job, t: seen.append((t.from_state, t.to_state)))
    r = client.post(URL, headers=alice.auth(), json=BODY)
    assert r.status_code == 201, r.text
    j = r.json()["job"]
    assert (j["state"], j["queue_position"], j["hourly_usd"]) == ("queued", 1, "0")
    assert client.post(URL, headers=alice.auth(), json=BODY).status_code == 409  # the name is taken
    assert client.post(URL, headers=bob.auth(), json={**BODY, "name": "b"}).status_code == 404  # not bob's
    s, job = _job(app)
    with s:
        jobs.transition(s, job, jobs.STARTING, "placed")
        jobs.transition(s, job, jobs.RUNNING, "trainer started")
        jobs.pause(s, job, "balance too low for the next epoch")
        assert jobs.stop_wanted(s, job.model) and job.want == "pause"
        jobs.transition(s, job, jobs.PAUSED, job.reason)
        with pytest.raises(ServiceError, match="cannot become running"):
            jobs.transition(s, job, jobs.RUNNING)
        s.commit()
    assert seen == [(None, "queued"), ("queued", "starting"), ("starting", "running"), ("running", "paused")]
    m = client.get(f"{URL}/exp", headers=alice.auth()).json()
    assert m["status"] == "stopped" and m["source"] == "cloud"
    note = client.get("/api/v1/notifications", headers=alice.auth()).json()["items"][0]
    assert note["kind"] == "job.paused" and "balance too low" in note["body"]
    assert client.get("/api/v1/notifications", headers=bob.auth()).json()["total"] == 0

    class NoMoney(ServiceError):
        status = 402

    def gate(session, user, gpu):
        raise NoMoney(f"balance $0.00 is below the $5.00 needed to start on {gpu.name}")

    job_hooks.set_start_gate(gate)
    r = client.post(f"{URL}/exp/resume", headers=alice.auth())
    assert r.status_code == 402 and "balance $0.00" in r.json()["detail"]
    r = client.post(URL, headers=alice.auth(), json={**BODY, "name": "exp2"})
    assert r.status_code == 402
    job_hooks.set_start_gate(lambda session, user, gpu: None)
    r = client.post(f"{URL}/exp/resume", headers=alice.auth())
    assert r.status_code == 200 and r.json()["state"] == "queued"
    assert [t["to_state"] for t in r.json()["transitions"]][-2:] == ["paused", "queued"]
    assert seen[-1] == ("paused", "queued")


def test_stop_and_cancel_of_waiting_jobs(client, alice, ready) -> None:
    assert client.post(URL, headers=alice.auth(), json=BODY).status_code == 201
    assert client.post(URL, headers=alice.auth(), json={**BODY, "name": "second"}).status_code == 201
    second = client.get(f"{URL}/second/job", headers=alice.auth()).json()
    assert second["queue_position"] == 2
    r = client.post(f"{URL}/exp/stop", headers=alice.auth())
    assert r.status_code == 200 and r.json()["state"] == "stopped"
    assert client.get(f"{URL}/second/job", headers=alice.auth()).json()["queue_position"] == 1
    r = client.post(f"{URL}/exp/cancel", headers=alice.auth())
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = client.post(f"{URL}/exp/resume", headers=alice.auth())
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]
    assert client.post(f"{URL}/exp/stop", headers=alice.auth("read")).status_code == 403


def test_job_token_writes_only_to_its_model(app, client, alice, ready) -> None:
    from yoloforge.platform.services import job_tokens

    assert client.post(URL, headers=alice.auth(), json=BODY).status_code == 201
    s, job = _job(app)
    with s:
        token = job_tokens.create_for_job(s, job)
        s.commit()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/datasets/alice/coco8", headers=auth).status_code == 200  # reads its dataset
    r = client.post("/api/v1/projects", headers=auth, json={"name": "other"})
    assert r.status_code == 403 and "training job" in r.json()["detail"]

    def start(headers: dict, run: str, **data) -> object:
        event = {"seq": 1, "kind": "start", "time": time.time(), "data": {"settings": {}, **data}}
        body = {"protocol": 1, "project": "alice/demo", "model": "mine", "events": [event]}
        return client.post(f"/api/v1/stream/runs/{run}/events", headers=headers, json=body)

    mine = start(alice.auth(), "a" * 32)  # alice's own remote run: a second model of the same account
    assert mine.status_code == 200, mine.text
    for data in ({}, {"model_id": mine.json()["model_id"]}):  # a new model, or another existing one: refused
        r = start(auth, "b" * 32, **data)
        assert r.status_code == 403 and "may only stream into it" in r.json()["detail"], r.text
    assert client.post(f"{URL}/exp/stop", headers=auth).status_code == 200  # its own model
    s, job = _job(app)
    with s:
        from yoloforge.platform.services import jobs

        jobs.request_end(s, job, "cancel", "test")
        s.commit()
    r = client.get("/api/v1/datasets/alice/coco8", headers=auth)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]  # the job ended: its token is gone


def test_quota_is_admin_only(app, client, alice) -> None:
    from tests.platform.conftest import make_account

    root = make_account(app, "root", admin=True)
    r = client.put("/api/v1/users/alice/quota", headers=root.auth("admin"), json={"max_running": 3})
    assert r.status_code == 200 and r.json() == {"user": "alice", "max_running": 3, "running": 0}
    assert client.put("/api/v1/users/alice/quota", headers=alice.auth(), json={"max_running": 9}).status_code == 403
