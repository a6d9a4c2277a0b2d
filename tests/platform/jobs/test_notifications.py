"""Notifications of ended jobs: the in-app list, webhooks (HMAC-SHA256 signature, the same idempotency key on
every retry, backoff, a delivery log) against a real HTTP receiver, and e-mail through a real SMTP server
(aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from tests.platform.conftest import upload

BODY = {"name": "exp", "dataset": "alice/coco8", "model": "yolo11n.yaml", "epochs": 2, "imgsz": 64, "gpu": "cpu"}


class Receiver(ThreadingHTTPServer):
    """Answers the statuses in `script` in turn (then 200) and keeps every request."""

    def __init__(self, script: list[int]) -> None:
        self.script, self.requests = list(script), []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(h) -> None:
                body = h.rfile.read(int(h.headers["Content-Length"]))
                self.requests.append((dict(h.headers), body))
                h.send_response(self.script.pop(0) if self.script else 200)
                h.end_headers()

            def log_message(h, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


def _end_job(app, state: str = "completed") -> None:
    from yoloforge.platform.db import Job
    from yoloforge.platform.services import jobs

    with app.state.platform.db.sessions() as s:
        job = s.scalar(select(Job))
        jobs.transition(s, job, jobs.STARTING)
        jobs.transition(s, job, jobs.RUNNING)
        jobs.transition(s, job, state, "training finished" if state == "completed" else "exit code 1: boom")
        s.commit()


@pytest.fixture
def submitted(client, alice, coco8_zip):
    assert client.post("/api/v1/projects", headers=alice.auth(), json={"name": "demo"}).status_code == 201
    assert upload(client, alice, coco8_zip, "coco8").status_code == 201
    assert client.post("/api/v1/projects/alice/demo/models", headers=alice.auth(), json=BODY).status_code == 201


def test_webhook_signed_retried_logged(app, client, alice, bob, submitted) -> None:
    from yoloforge.platform.services import webhooks

    receiver = Receiver([500, 503])
    try:
        r = client.post("/api/v1/webhooks", headers=alice.auth(), json={"url": receiver.url})
        assert r.status_code == 201
        hook_id, secret = r.json()["id"], r.json()["secret"]
        assert "secret" not in client.get("/api/v1/webhooks", headers=alice.auth()).json()[0]
        assert client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=bob.auth()).status_code == 404
        _end_job(app)
        state = app.state.platform
        assert webhooks.deliver_due(state) == 0  # 500
        assert webhooks.deliver_due(state) == 0  # not due yet: backoff
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=webhooks.BACKOFF[0] + 1)
        assert webhooks.deliver_due(state, now=later) == 0  # 503
        later += dt.timedelta(seconds=webhooks.BACKOFF[1] + 1)
        assert webhooks.deliver_due(state, now=later) == 1  # 200
        assert len(receiver.requests) == 3
        keys = {h["X-Yoloforge-Delivery"] for h, _ in receiver.requests}
        assert len(keys) == 1  # one idempotency key for every retry
        for headers, body in receiver.requests:
            ts = int(headers["X-Yoloforge-Timestamp"])
            assert webhooks.verify(secret, ts, body, headers["X-Yoloforge-Signature"])
            assert not webhooks.verify("whsec_wrong", ts, body, headers["X-Yoloforge-Signature"])
            assert headers["X-Yoloforge-Event"] == "job.completed"
        payload = json.loads(receiver.requests[-1][1])
        assert payload["data"]["model"] == "alice/demo/exp" and payload["data"]["state"] == "completed"
        log = client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=alice.auth()).json()["items"]
        assert [(d["status"], d["attempts"], d["last_status_code"]) for d in log] == [("delivered", 3, 200)]
        notes = client.get("/api/v1/notifications?unread=true", headers=alice.auth()).json()
        assert [n["kind"] for n in notes["items"]] == ["job.completed"]
        r = client.post("/api/v1/notifications/read", headers=alice.auth(), json={"ids": [2**70]})  # was a 500
        assert r.status_code == 422 and "ids" in r.text
        assert client.post("/api/v1/notifications/read", headers=alice.auth(), json={}).json() == {"marked": 1}
        assert client.get("/api/v1/notifications?unread=true", headers=alice.auth()).json()["total"] == 0
    finally:
        receiver.shutdown()


def test_webhook_gives_up_after_the_last_retry(app, client, alice, submitted) -> None:
    from yoloforge.platform.services import webhooks

    receiver = Receiver([500] * 10)
    try:
        client.post("/api/v1/webhooks", headers=alice.auth(), json={"url": receiver.url})
        _end_job(app, "failed")
        when = dt.datetime.now(dt.timezone.utc)
        for wait in (0, *webhooks.BACKOFF):
            when += dt.timedelta(seconds=wait + 1)
            webhooks.deliver_due(app.state.platform, now=when)
        log = client.get("/api/v1/webhooks/1/deliveries", headers=alice.auth()).json()["items"]
        assert [(d["status"], d["attempts"]) for d in log] == [("failed", len(webhooks.BACKOFF) + 1)]
        assert "HTTP 500" in log[0]["last_error"]
        assert len(receiver.requests) == len(webhooks.BACKOFF) + 1
    finally:
        receiver.shutdown()


def test_email_through_smtp(tmp_path, db_url) -> None:
    from aiosmtpd.controller import Controller

    from tests.platform.conftest import make_account
    from tests.platform.support.postgres import free_port
    from yoloforge.platform.app import create_app
    from yoloforge.platform.services import notifications
    from yoloforge.platform.settings import ServerSettings

    class Inbox:
        def __init__(self) -> None:
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        settings = ServerSettings(home=tmp_path / "home", database_url=db_url, jobs_scheduler=False,
                                  smtp_host="127.0.0.1", smtp_port=port, smtp_from="jobs@yoloforge.test")  # fmt: skip
        app = create_app(settings)
        from fastapi.testclient import TestClient

        with TestClient(app) as client:
            alice = make_account(app, "alice")
            r = client.put("/api/v1/notifications/settings", headers=alice.auth(), json={"email": "nope"})
            assert r.status_code == 422 and "email" in r.json()["detail"]
            r = client.put("/api/v1/notifications/settings", headers=alice.auth(), json={"email": "alice@example.com"})
            assert r.json() == {"email": "alice@example.com", "smtp_configured": True}
            from yoloforge.platform.bootstrap import coco8_zip

            zp = tmp_path / "coco8.zip"
            zp.write_bytes(coco8_zip())
            client.post("/api/v1/projects", headers=alice.auth(), json={"name": "demo"})
            assert upload(client, alice, zp, "coco8").status_code == 201
            assert client.post("/api/v1/projects/alice/demo/models", headers=alice.auth(), json=BODY).status_code == 201
            _end_job(app)
            assert notifications.send_emails(app.state.platform) == 1
            assert notifications.send_emails(app.state.platform) == 0  # sent once
        app.state.platform.close()
        [(to, text)] = inbox.messages
        assert to == ["alice@example.com"]
        assert "Subject: Training completed: alice/demo/exp" in text and "From: jobs@yoloforge.test" in text
    finally:
        smtp.stop()
