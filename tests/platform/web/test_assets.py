"""The pages' assets: served from the vendor folder `make setup` fills (no CDN anywhere), and a page that says
"run make setup" when that folder is missing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from yoloforge.platform.web import assets


@pytest.fixture
def web_client(tmp_path: Path) -> Iterator[TestClient]:
    from yoloforge.platform.app import create_app
    from yoloforge.platform.services import accounts
    from yoloforge.platform.settings import ServerSettings

    app = create_app(ServerSettings(home=tmp_path / "home"))
    with app.state.platform.db.sessions() as s:
        accounts.create_user(s, "carol", "carol-password-123")
    with TestClient(app) as c:
        assert c.post("/api/v1/auth/login", json={"name": "carol", "password": "carol-password-123"}).is_success
        yield c
    app.state.platform.close()


def test_docs_and_pages_use_local_assets_only(web_client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/projects", "/datasets", "/settings", "/login"):
        html = web_client.get(path).text
        external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)
        assert not external, f"{path} loads {external}"
        for asset in re.findall(r"""(?:src|href)=["'](/static/[^"'?]+)""", html):
            assert web_client.get(asset).status_code == 200, f"{path}: {asset} is not served"
    assert "/static/vendor/swagger-ui-bundle.js" in web_client.get("/docs").text


def test_missing_vendor_folder_says_run_make_setup(
    web_client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assets, "VENDOR", tmp_path / "no-vendor")  # as on a clone where npm ci never ran
    r = web_client.get("/projects")
    assert r.status_code == 503 and "run `make setup`" in r.text and "htmx.min.js" in r.text
    r = web_client.get("/docs")
    assert r.status_code == 503 and "make setup" in r.text


def test_signed_out_pages_redirect_and_api_paths_stay_json(web_client: TestClient) -> None:
    web_client.post("/api/v1/auth/logout")
    r = web_client.get("/datasets/carol/x?version=2", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/datasets/carol/x%3Fversion%3D2"
    r = web_client.get("/login?next=//evil.example/x")
    assert 'data-next="/projects"' in r.text  # never an open redirect
    r = web_client.get("/api/v1")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
