"""Projects through the API: create, list with pagination, read, change, delete; errors name the field."""

from __future__ import annotations


def test_project_lifecycle(client, alice, bob) -> None:
    r = client.post("/api/v1/projects", headers=alice.auth(), json={"name": "detector", "description": "d"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert (p["owner"], p["name"], p["visibility"], p["models"]) == ("alice", "detector", "private", 0)
    r = client.post("/api/v1/projects", headers=alice.auth(), json={"name": "Detector"})
    assert r.status_code == 409 and "already have a project named 'Detector'" in r.json()["detail"]
    assert client.post("/api/v1/projects", headers=bob.auth(), json={"name": "detector"}).status_code == 201

    r = client.patch("/api/v1/projects/alice/detector", headers=alice.auth(), json={"visibility": "public"})
    assert r.status_code == 200 and r.json()["visibility"] == "public" and r.json()["description"] == "d"
    assert client.get("/api/v1/projects/alice/detector", headers=bob.auth()).status_code == 200
    r = client.patch("/api/v1/projects/alice/detector", headers=bob.auth(), json={"description": "mine now"})
    assert r.status_code == 403 and "only its owner" in r.json()["detail"]
    assert client.delete("/api/v1/projects/alice/detector", headers=bob.auth()).status_code == 403

    assert client.delete("/api/v1/projects/alice/detector", headers=alice.auth()).status_code == 204
    r = client.get("/api/v1/projects/alice/detector", headers=alice.auth())
    assert r.status_code == 404 and r.json()["detail"] == "project alice/detector not found"


def test_list_is_yours_and_public_with_pages(client, alice, bob) -> None:
    for i in range(5):
        client.post("/api/v1/projects", headers=alice.auth(), json={"name": f"a{i}"})
    client.post("/api/v1/projects", headers=bob.auth(), json={"name": "b-private"})
    client.post("/api/v1/projects", headers=bob.auth(), json={"name": "b-public", "visibility": "public"})
    page = client.get("/api/v1/projects?limit=2&offset=0", headers=alice.auth()).json()
    assert page["total"] == 6 and [p["name"] for p in page["items"]] == ["a0", "a1"]
    seen = []
    for offset in range(0, 6, 2):
        seen += [f"{p['owner']}/{p['name']}" for p in client.get(f"/api/v1/projects?limit=2&offset={offset}",
                                                                 headers=alice.auth()).json()["items"]]  # fmt: skip
    assert seen == [f"alice/a{i}" for i in range(5)] + ["bob/b-public"]  # own first, nothing twice or lost
    only_bob = client.get("/api/v1/projects?owner=bob", headers=alice.auth()).json()
    assert [p["name"] for p in only_bob["items"]] == ["b-public"]


def test_validation_errors_name_the_field(client, alice) -> None:
    cases = [
        ({"description": "no name"}, "name", "Field required"),
        ({"name": "has space"}, "name", "pattern"),
        ({"name": "x" * 65}, "name", "at most 64"),
        ({"name": "ok", "visibility": "secret"}, "visibility", "'private' or 'public'"),
        ({"name": 12}, "name", "string"),
    ]
    for body, field, words in cases:
        r = client.post("/api/v1/projects", headers=alice.auth(), json=body)
        assert r.status_code == 422, (body, r.text)
        err = r.json()
        assert err["errors"][0]["field"] == field and err["errors"][0]["loc"] == ["body", field]
        assert err["detail"].startswith(f"{field}: ") and words in err["detail"], err
    r = client.post("/api/v1/projects", headers={**alice.auth(), "content-type": "application/json"}, content=b"{oops")
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
    r = client.get("/api/v1/projects?limit=0", headers=alice.auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    r = client.get("/api/v1/projects/alice/bad%20name", headers=alice.auth())
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["path", "project"]


def test_json_bodies_are_capped(client, alice) -> None:
    """A JSON body over 1 MiB is refused before it is parsed (only uploads may be large)."""
    r = client.post("/api/v1/projects", headers=alice.auth(), json={"name": "big", "description": "x" * (2 << 20)})
    assert r.status_code == 413 and r.json()["detail"]
