"""Two users, every route of the OpenAPI document: no one reads or changes another's private resources,
and every write needs the right scope.

The routes come from `app.openapi()`, so routes added later are walked too. Each route's required
scope is its `x-scope` (written by `needs(...)`; `x-owner-only` routes answer 404 to others even for
public resources); path parameters are filled from DESCRIBED by the
literal segment before them (`/models/{name}` is a model name). A route with an undescribed parameter,
no `x-scope`, or a JSON body without an example fails the test until it is described here.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from tests.platform.conftest import make_account, upload

SCOPES = ("public", "read", "train", "admin")
WRITES = ("post", "put", "patch", "delete")
VOLATILE = {"last_used_at", "download_url", "updated_at"}


@dataclass
class World:
    """Alice's private and public resources, and the values filling each route's path parameters."""

    private: dict[tuple[str, str], Any]
    public: dict[tuple[str, str], Any]
    snapshots: list[str] = field(default_factory=list)


def _setup(app, client, alice, coco8_zip, fixtures_dir) -> World:
    from yoloforge.platform.db import ApiKey, Export, Job, Model, Project, Webhook
    from yoloforge.platform.services import models

    for name, vis in (("vault", "private"), ("showcase", "public")):
        assert (
            client.post("/api/v1/projects", headers=alice.auth(), json={"name": name, "visibility": vis}).status_code
            == 201
        )
    assert upload(client, alice, coco8_zip, "secret-data").status_code == 201
    assert upload(client, alice, coco8_zip, "open-data", visibility="public").status_code == 201
    state = app.state.platform
    streams = {}
    with state.db.sessions() as s:
        for project_name, model_name in (("vault", "secret-model"), ("showcase", "open-model")):
            project = s.scalar(select(Project).where(Project.name == project_name))
            model = models.create_model(
                s, project, model_name, source="cloud", status="running", settings={"epochs": 1}
            )
            models.record_epoch(s, model, 0, {"metrics/mAP50(B)": 0.5})
            with open(fixtures_dir / "yolov8n-random-io.pt", "rb") as f:
                models.store_checkpoint(s, state.storage, model, "best", f, epoch=0)
            s.add(Job(model_id=model.id, user_id=project.owner_id, gpu_type="cpu", state="stopped"))
            stored = state.storage.put_bytes(f"models/{model.id}/exports/x.onnx", b"onnx bytes")
            s.add(Export(model_id=model.id, format="onnx", status="completed", storage_key=stored.key,
                         size=stored.size, sha256=stored.sha256, filename="x.onnx"))  # fmt: skip
            streams[project_name] = _stream_run(s, model, project_name)
        hook = Webhook(user_id=s.scalar(select(Project.owner_id).where(Project.name == "vault")), url="http://x.y/",
                       secret="whsec_test")  # fmt: skip
        s.add(hook)
        s.commit()
        key_id = s.scalar(
            select(ApiKey.id).join(ApiKey.user).where(ApiKey.name == "train key", ApiKey.user.has(name="alice"))
        )
    common = {("checkpoints", "kind"): "best", ("versions", "number"): 1, ("projects", "owner"): "alice",
              ("datasets", "owner"): "alice", ("users", "owner"): "alice",
              ("accounts", "user"): "alice"}  # fmt: skip
    with state.db.sessions() as s:
        export_of = dict(s.execute(select(Model.name, Export.id).join(Export, Export.model_id == Model.id)).all())
    private = {**common, ("exports", "export_id"): export_of["secret-model"], ("projects", "project"): "vault",
               ("datasets", "name"): "secret-data",
               ("models", "name"): "secret-model", ("keys", "key_id"): key_id,
               ("webhooks", "webhook_id"): hook.id, **streams["vault"]}  # fmt: skip
    public = {**common, ("exports", "export_id"): export_of["open-model"], ("projects", "project"): "showcase",
              ("datasets", "name"): "open-data",
              ("models", "name"): "open-model", **streams["showcase"]}  # fmt: skip
    snapshots = [
        "/api/v1/projects/alice/vault",
        "/api/v1/projects/alice/showcase",
        "/api/v1/datasets/alice/secret-data",
        "/api/v1/datasets/alice/open-data",
        "/api/v1/projects/alice/vault/models/secret-model",
        "/api/v1/projects/alice/showcase/models/open-model",
        "/api/v1/projects/alice/vault/models/secret-model/job",
        "/api/v1/projects/alice/showcase/models/open-model/job",
        "/api/v1/webhooks",
        "/api/v1/projects/alice/vault/models/secret-model/exports",
        "/api/v1/keys",
    ]
    return World(private, public, snapshots)


def _stream_run(session, model, project_name: str) -> dict[tuple[str, str], str]:
    """A streaming run and an unfinished upload of `model` (the stream routes' path parameters)."""
    from yoloforge.platform.services import ingest_uploads, stream_runs

    key = ("a" if project_name == "vault" else "b") * 32
    run = stream_runs.new_run(session, model, key, "native")
    upload = ingest_uploads.begin_upload(session, run, "last", "last.pt", 10, "0" * 64)
    session.commit()
    return {("runs", "run_id"): key, ("uploads", "token"): upload.token}


def fill(path: str, values: dict[tuple[str, str], Any]) -> str | None:
    """The path with its {params} filled from `values` (None when one has no value of this kind)."""
    parts, literal = [], ""
    for seg in path.strip("/").split("/"):
        if seg.startswith("{"):
            key = (literal, seg[1:-1])
            if key not in values:
                return None
            parts.append(str(values[key]))
        else:
            literal = seg
            parts.append(seg)
    return "/" + "/".join(parts)


def undescribed(path: str, world: World) -> list[tuple[str, str]]:
    keys, literal = [], ""
    for seg in path.strip("/").split("/"):
        if seg.startswith("{"):
            keys.append((literal, seg[1:-1]))
        else:
            literal = seg
    return [k for k in keys if k not in world.private]


def body_for(op: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Request kwargs with a valid body: a JSON body's schema example, or minimal multipart fields."""
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        schema = _deref(content["application/json"]["schema"], spec)
        examples = schema.get("examples")
        assert examples, f"schema {schema.get('title')} has no example: add `model_config = example({{...}})`"
        return {"json": examples[0]}
    if "multipart/form-data" in content:
        schema = _deref(content["multipart/form-data"]["schema"], spec)
        files, data = {}, {}
        for name in schema.get("required", []):
            prop = schema["properties"][name]
            if prop.get("format") == "binary" or prop.get("contentMediaType"):
                files[name] = ("x.zip", b"PK\x05\x06" + b"\0" * 18, "application/zip")
            else:
                data[name] = "probe"
        return {"files": files or None, "data": data}
    return {}


def _deref(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _snapshot(client, world: World, alice) -> list[Any]:
    out = []
    for path in world.snapshots:
        r = client.get(path, headers=alice.auth())
        assert r.status_code == 200, (path, r.text)
        out.append(_strip(r.json()))
    return out


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def test_two_users_walk_every_route(app, client, alice, bob, coco8_zip, fixtures_dir) -> None:
    world = _setup(app, client, alice, coco8_zip, fixtures_dir)
    spec = copy.deepcopy(app.openapi())
    before = _snapshot(client, world, alice)
    checks: list[str] = []

    def expect(
        status: set[int], method: str, path: str, headers: dict[str, str], kwargs: dict[str, Any], why: str
    ) -> None:
        r = client.request(method.upper(), path, headers=headers, **kwargs)
        assert r.status_code in status, f"{why}: {method.upper()} {path} -> {r.status_code} {r.text[:300]}"
        assert r.status_code < 500 and isinstance(r.json().get("detail") if r.status_code >= 400 else {}, (str, dict))
        checks.append(f"{why}: {method.upper()} {path}")

    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            scope = op.get("x-scope")
            assert scope in SCOPES, f"{method.upper()} {path} declares no x-scope: use **needs(...) or **PUBLIC"
            missing = undescribed(path, world)
            assert not missing, f"{method.upper()} {path}: describe path parameter(s) {missing} in the walker"
            required_query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query" and p.get("required")]
            assert not required_query, f"{method.upper()} {path}: describe required query {required_query}"
            kwargs = body_for(op, spec) if method in WRITES else {}
            target = fill(path, world.private)
            if scope != "public":
                expect({401}, method, target, {}, kwargs, "anonymous")
            if scope == "train":
                expect({403}, method, target, bob.auth("read"), kwargs, "read key on a write")
            if scope == "admin":
                for account in (bob, alice):
                    for s in account.keys:
                        expect({403}, method, target, account.auth(s), kwargs, f"{s} key of a non-admin")
                continue
            if "{" not in path or scope == "public":
                continue
            for s in ("read", "train") if scope == "read" else ("train",):
                expect({404}, method, target, bob.auth(s), kwargs, f"bob's {s} key on alice's private resource")
            if method == "get":
                expect({200}, method, target, alice.auth("read"), kwargs, "alice reads her own private resource")
            open_target = fill(path, world.public)
            if open_target is not None:
                wanted = {200} if method == "get" else {403}
                if op.get("x-owner-only"):  # e.g. a public model's cost: private to its owner
                    wanted = {404}
                expect(wanted, method, open_target, bob.auth("train"), kwargs, "bob on alice's public resource")
    assert _snapshot(client, world, alice) == before, "a request of bob changed alice's resources"
    listed = client.get("/api/v1/projects", headers=bob.auth()).json()["items"]
    assert [(p["owner"], p["name"]) for p in listed] == [("alice", "showcase")]
    listed = client.get("/api/v1/datasets", headers=bob.auth()).json()["items"]
    assert [(d["owner"], d["name"]) for d in listed] == [("alice", "open-data")]
    n_routes = sum(len(ops) for ops in spec["paths"].values())
    kinds = Counter(c.split(":")[0] for c in checks)
    print(f"\nisolation walk: {n_routes} routes, {len(checks)} checks: {dict(kinds)}")
    assert n_routes >= 25 and len(checks) > 3 * n_routes


def test_admin_sees_and_changes_everything(app, client, alice, coco8_zip) -> None:
    root = make_account(app, "root", admin=True)
    client.post("/api/v1/projects", headers=alice.auth(), json={"name": "vault"})
    upload(client, alice, coco8_zip, "secret-data")
    assert client.get("/api/v1/projects/alice/vault", headers=root.auth("admin")).status_code == 200
    assert client.get("/api/v1/projects/alice/vault", headers=root.auth("train")).status_code == 404  # no admin scope
    assert client.get("/api/v1/datasets/alice/secret-data/download", headers=root.auth("admin")).status_code == 200
    r = client.patch("/api/v1/projects/alice/vault", headers=root.auth("admin"), json={"description": "audited"})
    assert r.status_code == 200 and r.json()["description"] == "audited"
    assert client.delete("/api/v1/datasets/alice/secret-data", headers=root.auth("admin")).status_code == 204
