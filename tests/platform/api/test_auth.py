"""Accounts, API keys and browser sessions, through the API (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from tests.platform.conftest import make_account


def test_key_format_and_storage(app, client, alice) -> None:
    """A new key is yf_ + 43 URL-safe characters, shown once; the database holds only its SHA-256."""
    from yoloforge.platform.db import ApiKey

    r = client.post("/api/v1/keys", headers=alice.auth(), json={"name": "laptop", "scope": "read"})
    assert r.status_code == 201, r.text
    body = r.json()
    key = body["key"]
    assert key.startswith("yf_") and len(key) == 3 + 43
    assert body["prefix"] == key[:10] and body["scopes"] == ["read"]
    with app.state.platform.db.sessions() as s:
        rows = list(s.scalars(select(ApiKey)))
    stored = [str(v) for row in rows for v in (row.key_hash, row.prefix, row.name)]
    assert hashlib.sha256(key.encode()).hexdigest() in stored
    assert key not in stored
    listed = client.get("/api/v1/keys", headers=alice.auth()).json()["items"]
    assert all("key" not in k for k in listed) and body["id"] in [k["id"] for k in listed]
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key}"}).json()["scopes"] == ["read"]


def test_revocation_takes_effect_on_the_next_request(client, alice) -> None:
    made = client.post("/api/v1/keys", headers=alice.auth(), json={"name": "ci", "scope": "train"}).json()
    auth = {"Authorization": f"Bearer {made['key']}"}
    assert client.get("/api/v1/projects", headers=auth).status_code == 200
    r = client.delete(f"/api/v1/keys/{made['id']}", headers=alice.auth())
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = client.get("/api/v1/projects", headers=auth)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_last_used_is_recorded(client, alice) -> None:
    made = client.post("/api/v1/keys", headers=alice.auth(), json={"name": "x", "scope": "read"}).json()
    assert made["last_used_at"] is None
    client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {made['key']}"})
    keys = {k["id"]: k for k in client.get("/api/v1/keys", headers=alice.auth()).json()["items"]}
    assert keys[made["id"]]["last_used_at"] is not None


def test_scope_rules_for_new_keys(app, client, alice) -> None:
    """No admin key for a non-admin; a read key cannot mint keys; an admin's admin key can."""
    r = client.post("/api/v1/keys", headers=alice.auth(), json={"name": "x", "scope": "admin"})
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    r = client.post("/api/v1/keys", headers=alice.auth("read"), json={"name": "x", "scope": "read"})
    assert r.status_code == 403 and "'train' scope" in r.json()["detail"]
    root = make_account(app, "root", admin=True)
    r = client.post("/api/v1/keys", headers=root.auth("admin"), json={"name": "ops", "scope": "admin"})
    assert r.status_code == 201 and r.json()["scopes"] == ["read", "train", "admin"]
    r = client.post("/api/v1/keys", headers=root.auth("train"), json={"name": "ops", "scope": "admin"})
    assert r.status_code == 403  # a train key of an admin cannot mint an admin key


def test_bad_credentials_are_401_with_a_reason(client) -> None:
    cases = {
        None: "not signed in",
        "Bearer yf_" + "A" * 43: "invalid API key",
        "Bearer sk-something": "not a yoloforge API key",
        "Basic dXNlcjpwdw==": "Bearer <API key>",
    }
    for header, reason in cases.items():
        r = client.get("/api/v1/projects", headers={"Authorization": header} if header else {})
        assert r.status_code == 401 and reason in r.json()["detail"], (header, r.text)
        assert r.headers["www-authenticate"] == "Bearer"


def test_browser_session_cookie(client, alice) -> None:
    """Login sets a signed HttpOnly SameSite=Lax cookie that authenticates; logout ends it server-side."""
    r = client.post("/api/v1/auth/login", json={"name": "alice", "password": "wrong password"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong user name or password"
    r = client.post("/api/v1/auth/login", json={"name": "nobody", "password": "whatever1"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong user name or password"
    r = client.post("/api/v1/auth/login", json={"name": "alice", "password": alice.password})
    assert r.status_code == 200 and r.json()["name"] == "alice"
    cookie_header = r.headers["set-cookie"].lower()
    assert "httponly" in cookie_header and "samesite=lax" in cookie_header and "path=/" in cookie_header
    stolen = client.cookies.get("yoloforge_session")
    me = client.get("/api/v1/users/me").json()
    assert me["via"] == "session" and me["scopes"] == ["read", "train"]
    assert client.post("/api/v1/projects", json={"name": "from-browser"}).status_code == 201
    client.cookies.set("yoloforge_session", stolen[:-3] + "xyz")  # a forged signature
    assert client.get("/api/v1/users/me").status_code == 401
    client.cookies.set("yoloforge_session", stolen)
    assert client.post("/api/v1/auth/logout").status_code == 204
    client.cookies.set("yoloforge_session", stolen)  # a copy kept after logout no longer works
    r = client.get("/api/v1/users/me")
    assert r.status_code == 401 and "sign in again" in r.json()["detail"]


def test_admin_creates_users(app, client, alice) -> None:
    root = make_account(app, "root", admin=True)
    body = {"name": "carol", "password": "carol-password"}
    assert client.post("/api/v1/users", headers=alice.auth(), json=body).status_code == 403
    assert client.post("/api/v1/users", headers=root.auth("train"), json=body).status_code == 403
    r = client.post("/api/v1/users", headers=root.auth("admin"), json=body)
    assert r.status_code == 201 and r.json()["is_admin"] is False
    r = client.post("/api/v1/users", headers=root.auth("admin"), json={**body, "name": "CAROL"})
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    r = client.post("/api/v1/users", headers=root.auth("admin"), json={"name": "dave", "password": "short"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"
    assert client.post("/api/v1/auth/login", json=body).status_code == 200
