"""Native ingestion through the API: a run's events stored once, status, metrics, console, system, checkpoints,
uploads resumed and checked, stop, lost, and other accounts kept out."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import select

from tests.platform.conftest import make_account

RUN = "0123456789abcdef0123456789abcdef"


def ev(seq: int, event_kind: str, **data) -> dict:
    return {"seq": seq, "kind": event_kind, "time": time.time(), "data": data}


def post(client, account, events, run=RUN, project="alice/detector", model="exp1"):
    body = {"protocol": 1, "project": project, "model": model, "events": events}
    return client.post(f"/api/v1/stream/runs/{run}/events", headers=account.auth(), json=body)


def _run_with_epochs(client, alice, n=3):
    events = [ev(1, "start", settings={"epochs": n, "imgsz": 64})]
    events += [ev(2 + i, "epoch", epoch=i, metrics={"metrics/mAP50-95(B)": 0.1 * i, "fitness": 0.1 * i,
               "best_fitness": 0.1 * i}) for i in range(n)]  # fmt: skip
    events.append(ev(2 + n, "console", lines=["line a", "line b"]))
    events.append(ev(3 + n, "system", cpu=50.0, ram=10.0, gpus=[]))
    return post(client, alice, events)


def test_a_run_creates_its_model_and_stores_every_epoch_once(client, alice) -> None:
    r = _run_with_epochs(client, alice)
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["acked"] == [1, 2, 3, 4, 5, 6] and reply["model"] == "exp1" and reply["command"] is None
    again = _run_with_epochs(client, alice)  # a replay of the same batch: acknowledged, not stored twice
    assert again.status_code == 200 and again.json()["acked"] == reply["acked"]
    base = "/api/v1/projects/alice/detector/models/exp1"
    model = client.get(base, headers=alice.auth("read")).json()
    assert model["status"] == "running" and model["source"] == "remote" and model["settings"]["imgsz"] == 64
    assert model["best_metrics"]["epoch"] == 2
    metrics = client.get(f"{base}/metrics", headers=alice.auth("read")).json()["items"]
    assert [m["epoch"] for m in metrics] == [0, 1, 2]
    console = client.get(f"{base}/console", headers=alice.auth("read")).json()
    assert [line["text"] for line in console["lines"]] == ["line a", "line b"]
    assert client.get(f"{base}/console?after={console['next']}", headers=alice.auth("read")).json()["lines"] == []
    system = client.get(f"{base}/system", headers=alice.auth("read")).json()["items"]
    assert len(system) == 1 and system[0]["data"]["cpu"] == 50.0
    r = post(client, alice, [ev(7, "end", status="completed", final_metrics={"metrics/mAP50-95(B)": 0.3})])
    model = client.get(base, headers=alice.auth("read")).json()
    assert model["status"] == "completed" and model["final_metrics"] == {"metrics/mAP50-95(B)": 0.3}


def test_a_name_in_use_gets_a_suffix_and_a_resume_continues_the_model(client, alice) -> None:
    assert _run_with_epochs(client, alice, 1).status_code == 200
    r = post(client, alice, [ev(1, "start")], run="f" * 32)
    assert r.status_code == 200 and r.json()["model"] == "exp1-2"
    first_id = client.get("/api/v1/projects/alice/detector/models/exp1", headers=alice.auth()).json()
    assert first_id["status"] == "running"
    model_id = post(client, alice, [ev(8, "console", lines=["x"])]).json()["model_id"]
    r = post(client, alice, [ev(1, "start", model_id=model_id, resumed=True), ev(2, "epoch", epoch=1, metrics={})],
             run="e" * 32)  # fmt: skip
    assert r.status_code == 200 and r.json()["model"] == "exp1"
    metrics = client.get("/api/v1/projects/alice/detector/models/exp1/metrics", headers=alice.auth()).json()["items"]
    assert [m["epoch"] for m in metrics] == [0, 1]


def test_unknown_run_without_start_and_invalid_events(client, alice) -> None:
    r = post(client, alice, [ev(1, "epoch", epoch=0, metrics={})])
    assert r.status_code == 404 and "start event" in r.json()["detail"]
    r = post(client, alice, [ev(1, "start"), ev(2, "epoch", epoch="x", metrics={})])
    assert r.status_code == 422 and "epoch" in r.json()["detail"]
    r = post(client, alice, [ev(1, "start"), ev(2, "end", status="exploded")])
    assert r.status_code == 422 and "status" in r.json()["detail"]
    r = post(client, alice, [{"seq": 0, "kind": "start", "time": 1.0, "data": {}}])
    assert r.status_code == 422 and "seq" in r.json()["detail"]


def test_checkpoint_upload_resumes_and_checks_the_digest(client, alice) -> None:
    assert post(client, alice, [ev(1, "start")]).status_code == 200
    data = bytes(range(256)) * 4000  # 1 MB
    digest = hashlib.sha256(data).hexdigest()
    announce = {"kind": "best", "filename": "best.pt", "size": len(data), "sha256": digest}
    up = client.post(f"/api/v1/stream/runs/{RUN}/uploads", headers=alice.auth(), json=announce).json()
    token = up["token"]
    put = f"/api/v1/stream/uploads/{token}"
    r = client.put(f"{put}?offset=0", headers=alice.auth(), content=data[:300_000])
    assert r.status_code == 200 and r.json()["received"] == 300_000
    again = client.post(f"/api/v1/stream/runs/{RUN}/uploads", headers=alice.auth(), json=announce).json()
    assert again["token"] == token and again["received"] == 300_000  # announced again: it continues
    r = client.put(f"{put}?offset=100", headers=alice.auth(), content=data[100:])
    assert r.status_code == 409  # not where the server is
    r = client.put(f"{put}?offset=300000", headers=alice.auth(), content=data[300_000:])
    assert r.status_code == 200 and r.json()["complete"] is True
    r = post(client, alice, [ev(2, "checkpoint", upload=token, kind="best", epoch=0)])
    assert r.status_code == 200, r.text
    model = client.get("/api/v1/projects/alice/detector/models/exp1", headers=alice.auth()).json()
    (ckpt,) = model["checkpoints"]
    assert ckpt["kind"] == "best" and ckpt["sha256"] == digest and ckpt["size"] == len(data)
    got = client.get(ckpt["download_url"])
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == digest
    bad = {**announce, "sha256": "0" * 64}
    token2 = client.post(f"/api/v1/stream/runs/{RUN}/uploads", headers=alice.auth(), json=bad).json()["token"]
    r = client.put(f"/api/v1/stream/uploads/{token2}?offset=0", headers=alice.auth(), content=data)
    assert r.status_code == 422 and "SHA-256" in r.json()["detail"]
    assert client.get(f"/api/v1/stream/uploads/{token2}", headers=alice.auth()).json()["received"] == 0


def test_stop_reaches_the_run_and_silence_makes_it_lost(app, client, alice) -> None:
    from yoloforge.platform.db import Model
    from yoloforge.platform.services import stream_runs

    assert _run_with_epochs(client, alice, 1).status_code == 200
    state = app.state.platform
    with state.db.sessions() as s:
        model = s.scalar(select(Model).where(Model.name == "exp1"))
        assert stream_runs.request_stop(s, model) is True
    r = client.post(f"/api/v1/stream/runs/{RUN}/heartbeat", headers=alice.auth())
    assert r.status_code == 200 and r.json() == {"command": "stop"}
    assert post(client, alice, [ev(9, "console", lines=["x"])]).json()["command"] == "stop"
    with state.db.sessions() as s:
        assert stream_runs.mark_lost(s, 0.0) != []
    assert client.get("/api/v1/projects/alice/detector/models/exp1", headers=alice.auth()).json()["status"] == "lost"
    post(client, alice, [ev(10, "console", lines=["back"])])  # a lost run that comes back continues
    assert client.get("/api/v1/projects/alice/detector/models/exp1", headers=alice.auth()).json()["status"] == "running"


def test_another_account_cannot_write_to_or_read_a_run(app, client, alice, bob) -> None:
    assert _run_with_epochs(client, alice, 1).status_code == 200
    r = post(client, bob, [ev(20, "console", lines=["intruder"])])
    assert r.status_code == 404
    r = post(client, bob, [ev(1, "start")], run="b" * 32)  # into alice's project by name
    assert r.status_code == 404
    assert client.post(f"/api/v1/stream/runs/{RUN}/heartbeat", headers=bob.auth()).status_code == 404
    assert client.get("/api/v1/projects/alice/detector/models/exp1/console", headers=bob.auth()).status_code == 404
    body = {"protocol": 1, "project": "alice/detector", "model": "exp1", "events": [ev(30, "console")]}
    r = client.post(f"/api/v1/stream/runs/{RUN}/events", headers=alice.auth("read"), json=body)
    assert r.status_code == 403
    carol = make_account(app, "carol")
    r = post(client, carol, [ev(1, "start")], run="c" * 32, project="carol/own")  # her own project is made
    assert r.status_code == 200
