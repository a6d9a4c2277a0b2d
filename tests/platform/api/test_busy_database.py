"""SQLite allows one writer: a write that waited its whole busy timeout for another's lock answers 503 with
Retry-After (nothing was written, the same request can be sent again), not a 500; the retry succeeds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.platform.conftest import make_account


def test_a_locked_sqlite_database_answers_503_then_the_retry_works(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from yoloforge.platform.app import create_app
    from yoloforge.platform.settings import ServerSettings

    settings = ServerSettings(home=tmp_path / "home", key_touch_seconds=0, jobs_scheduler=False,
                              sqlite_busy_seconds=0.3)  # fmt: skip
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            alice = make_account(app, "alice")
            holder = sqlite3.connect(settings.home / "yoloforge.db", isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            try:
                r = client.post("/api/v1/projects", headers=alice.auth(), json={"name": "busy"})
                assert r.status_code == 503, r.text
                assert r.headers["retry-after"] == "1" and "send the same request again" in r.json()["detail"]
                assert client.get("/api/v1/projects/alice/busy", headers=alice.auth()).status_code == 404
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert client.post("/api/v1/projects", headers=alice.auth(), json={"name": "busy"}).status_code == 201
            assert client.get("/api/v1/projects/alice/busy", headers=alice.auth()).status_code == 200
    finally:
        app.state.platform.close()
