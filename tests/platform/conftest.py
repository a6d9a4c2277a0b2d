"""Fixtures of the platform tests: the database (SQLite and a real PostgreSQL), settings, the app, users.

`db_url` is parametrized over both databases, so every test using `client` runs on each. Without
PostgreSQL binaries the postgresql cases skip with the reason; CI installs them (.ci/run).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the platform extra is not installed: pip install yoloforge[platform]")

from tests.platform.support.postgres import PostgresCluster, find_bin_dir, start_cluster
from tests.platform.support.s3 import CREDENTIALS, moto_server

TEMPLATE_DB = "yf_template"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster per test process, with a migrated template database."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no pg_ctl on PATH or in /usr/lib/postgresql/*/bin)")
    cluster = start_cluster(bin_dir)
    try:
        from yoloforge.platform.db.migrate import upgrade
        from yoloforge.platform.db.session import make_engine

        cluster.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
        engine = make_engine(cluster.url(TEMPLATE_DB))
        upgrade(engine)
        engine.dispose()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database: a SQLite file, or a copy of the PostgreSQL template."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'platform.db'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.url(cluster.create_database(template=TEMPLATE_DB))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, with test credentials in the environment."""
    pytest.importorskip("moto", reason="moto[server] is not installed")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in CREDENTIALS.items():
            mp.setenv(k, v)
        with moto_server() as endpoint:
            yield endpoint


@pytest.fixture
def server_settings(tmp_path: Path, db_url: str):
    from yoloforge.platform.settings import ServerSettings

    # no scheduler loop in the in-process app: tests of jobs drive JobRunner themselves or use a server process
    return ServerSettings(home=tmp_path / "home", database_url=db_url, key_touch_seconds=0, jobs_scheduler=False)


@pytest.fixture
def app(server_settings):
    from yoloforge.platform.app import create_app

    app = create_app(server_settings)
    yield app
    app.state.platform.close()


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@dataclass
class Account:
    """A test user with one key per scope."""

    name: str
    password: str
    keys: dict[str, str]

    def auth(self, scope: str = "train") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


def make_account(app, name: str, *, admin: bool = False) -> Account:
    """A user created through the service layer, with a read, a train (and for admins an admin) key."""
    from yoloforge.platform.services import accounts, keys

    password = f"{name}-password-123"
    state = app.state.platform
    with state.db.sessions() as session:
        user = accounts.create_user(session, name, password, is_admin=admin)
        scopes = ("read", "train", "admin") if admin else ("read", "train")
        made = {s: keys.create_key(session, user, f"{s} key", s)[1] for s in scopes}
    return Account(name, password, made)


@pytest.fixture
def alice(app) -> Account:
    return make_account(app, "alice")


@pytest.fixture
def bob(app) -> Account:
    return make_account(app, "bob")


@pytest.fixture(scope="session")
def coco128_zip(tmp_path_factory: pytest.TempPathFactory, coco128_dir: Path) -> Path:
    """The shared coco128 folder (its YAML, images and labels) as one zip, built once."""
    from tests.platform.support.archives import zip_tree

    return zip_tree(coco128_dir, tmp_path_factory.mktemp("zips") / "coco128.zip", prefix="coco128")


@pytest.fixture(scope="session")
def coco8_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged coco8 (YAML + folder) as a zip."""
    from yoloforge.platform.bootstrap import coco8_zip as build

    path = tmp_path_factory.mktemp("zips") / "coco8.zip"
    path.write_bytes(build())
    return path


def upload(client, account: Account, archive: Path, name: str, **form: str):
    """POST /api/v1/datasets with `archive`; returns the response."""
    with open(archive, "rb") as f:
        return client.post(
            "/api/v1/datasets",
            headers=account.auth(),
            files={"file": (archive.name, f, "application/zip")},
            data={"name": name, **form},
        )


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.cache"))
    return dst
