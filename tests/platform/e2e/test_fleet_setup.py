"""The server process on the production backends: PostgreSQL and S3 (moto's server), options from the
command line and from YOLOFORGE_SERVER_* variables."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from tests.platform.support.s3 import CREDENTIALS, make_bucket
from tests.platform.support.server import clean_env, run_cli, start_server


def test_postgres_and_s3(pg_cluster, s3_endpoint: str, coco8_zip: Path, tmp_path: Path, monkeypatch) -> None:
    import boto3

    db_url = pg_cluster.url(pg_cluster.create_database())
    bucket = make_bucket(s3_endpoint)
    home = tmp_path / "home"
    env = clean_env(**CREDENTIALS, YOLOFORGE_SERVER_S3_ENDPOINT_URL=s3_endpoint, YOLOFORGE_SERVER_DATABASE_URL=db_url)
    r = run_cli("server", "migrate", "--home", str(home), env=env)
    assert r.returncode == 0 and "was empty" in r.stdout, r.stderr
    r = run_cli("server", "create-user", "ops", "--admin", "--home", str(home), stdin="ops password 1\n", env=env)
    assert r.returncode == 0, r.stderr
    key = run_cli("server", "create-key", "ops", "--scope", "admin", "--home", str(home), env=env).stdout.strip()
    server = start_server(home, "--storage-url", f"s3://{bucket}/platform", env=env)
    try:
        health = httpx.get(f"{server.url}/api/v1/health").json()
        assert (health["database"], health["storage"]) == ("postgresql", "s3")
        with open(coco8_zip, "rb") as f:
            r = httpx.post(
                f"{server.url}/api/v1/datasets",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": ("coco8.zip", f)},
                data={"name": "coco8", "visibility": "public"},
                timeout=60,
            )
        assert r.status_code == 201, r.text
        digest = hashlib.sha256(coco8_zip.read_bytes()).hexdigest()
        s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        objects = s3.list_objects_v2(Bucket=bucket, Prefix="platform/datasets/")["Contents"]
        assert len(objects) == 1 and objects[0]["Size"] == coco8_zip.stat().st_size
        for k, v in CREDENTIALS.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("YOLOFORGE_PLATFORM_URL", server.url)
        monkeypatch.setenv("YOLOFORGE_API_KEY", key)
        monkeypatch.setenv("YOLOFORGE_DATASETS_DIR", str(tmp_path / "ds"))
        from yoloforge.data.dataset_yaml import load_dataset_yaml

        info = load_dataset_yaml("yf://ops/datasets/coco8")
        assert info.nc == 80 and digest in (Path(info.yaml_file).parent / ".yoloforge-dataset.json").read_text()
    finally:
        server.stop()
