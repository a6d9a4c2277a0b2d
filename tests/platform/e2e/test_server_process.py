"""The real server as a process: bootstrap from the shell, upload over HTTP, train on `yf://` with the CLI."""

from __future__ import annotations

import csv
import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.platform.support.server import ServerProcess, clean_env, run_cli, start_server


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e") / "home"


@pytest.fixture(scope="module")
def alice_key(home: Path) -> str:
    """An account and a train key made with `yoloforge server create-user/create-key` (before the server runs)."""
    r = run_cli("server", "create-user", "alice", "--home", str(home), stdin="a long enough password\n")
    assert r.returncode == 0 and r.stdout.strip() == "created user alice", r.stderr
    r = run_cli("server", "create-key", "alice", "--scope", "train", "--home", str(home))
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("yf_") and len(key) == 46 and "\n" not in key
    return key


@pytest.fixture(scope="module")
def server(home: Path, alice_key: str) -> Iterator[ServerProcess]:
    proc = start_server(home)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def coco8_on_server(server: ServerProcess, alice_key: str, coco8_zip: Path) -> str:
    """alice/coco8 version 1, uploaded once for the tests below."""
    with open(coco8_zip, "rb") as f:
        r = httpx.post(f"{server.url}/api/v1/datasets", headers={"Authorization": f"Bearer {alice_key}"},
                       files={"file": ("c.zip", f)}, data={"name": "coco8"}, timeout=60)  # fmt: skip
    assert r.status_code == 201, r.text
    return "yf://alice/datasets/coco8"


def test_bootstrap_errors_are_one_line(home: Path) -> None:
    r = run_cli("server", "create-key", "nobody", "--home", str(home))
    assert r.returncode == 2 and r.stderr.strip() == "yoloforge server: error: user 'nobody' not found"
    r = run_cli("server", "create-user", "bob", "--home", str(home), stdin="short\n")
    assert r.returncode == 2 and "password is too short" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("server", "create-user", "bob", "--home", str(home), stdin="")
    assert r.returncode == 2 and "no password on stdin" in r.stderr
    r = run_cli("server", "migrate", "--home", str(home))
    from yoloforge.platform.db.migrate import head_revision

    assert r.returncode == 0 and f"database at revision {head_revision()}" in r.stdout
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli("server", "--home", str(home), "--port", str(port))
    assert r.returncode == 2 and r.stderr.strip().startswith(
        f"yoloforge server: error: cannot listen on 127.0.0.1:{port}"
    )


def test_upload_then_train_on_yf_uri(server: ServerProcess, alice_key: str, coco128_zip: Path, tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {alice_key}"}
    with open(coco128_zip, "rb") as f:
        r = httpx.post(f"{server.url}/api/v1/datasets", headers=auth, files={"file": ("coco128.zip", f)},
                       data={"name": "coco128"}, timeout=120)  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["report"]["images"] == 256
    datasets_dir = tmp_path / "datasets"
    env = clean_env(
        YOLOFORGE_PLATFORM_URL=server.url, YOLOFORGE_API_KEY=alice_key, YOLOFORGE_DATASETS_DIR=str(datasets_dir)
    )
    args = ["detect", "train", "data=yf://alice/datasets/coco128", "model=yolo11n.yaml", "epochs=1", "imgsz=64",
            "batch=16", "fraction=0.25", "workers=0", "device=cpu", "plots=False", f"project={tmp_path / 'runs'}",
            "name=yf"]  # fmt: skip
    r = run_cli(*args, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "runs" / "yf" / "results.csv")))  # noqa: SIM115
    assert (
        len(rows) == 1 and float(rows[0]["metrics/mAP50-95(B)".strip()] if "metrics/mAP50-95(B)" in rows[0] else 0) >= 0
    )
    host = server.url.removeprefix("http://").replace(":", "_")
    local = datasets_dir / "platform" / host / "alice" / "coco128" / "v1"
    assert (local / "data.yaml").is_file() and len(list((local / "coco128" / "images" / "train2017").iterdir())) == 128
    assert not list((datasets_dir / ".downloads").glob("*"))  # the archive is removed once unpacked


def test_uri_errors_name_the_cause(
    server: ServerProcess, alice_key: str, coco8_on_server: str, tmp_path: Path, monkeypatch
) -> None:
    from yoloforge.data.dataset_yaml import load_dataset_yaml
    from yoloforge.data.files import DatasetError

    monkeypatch.setenv("YOLOFORGE_DATASETS_DIR", str(tmp_path / "ds"))
    monkeypatch.setenv("YOLOFORGE_PLATFORM_URL", server.url)
    monkeypatch.setenv("YOLOFORGE_API_KEY", "yf_" + "x" * 43)
    with pytest.raises(
        DatasetError, match=f"the platform server at {server.url} refused the API key .*YOLOFORGE_API_KEY"
    ):
        load_dataset_yaml(coco8_on_server)
    monkeypatch.setenv("YOLOFORGE_API_KEY", alice_key)
    with pytest.raises(DatasetError, match=r"dataset yf://alice/datasets/nothing not found on http://127\.0\.0\.1"):
        load_dataset_yaml("yf://alice/datasets/nothing")
    with pytest.raises(DatasetError, match="has no version 9"):
        load_dataset_yaml("ul://alice/datasets/coco8:9")
    with pytest.raises(DatasetError, match="not of the form yf://OWNER/datasets/NAME"):
        load_dataset_yaml("yf://alice/coco128")
    monkeypatch.setenv("YOLOFORGE_PLATFORM_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(
        DatasetError, match=r"cannot reach the platform server at http://127\.0\.0\.1:9 .*YOLOFORGE_PLATFORM_URL"
    ):
        load_dataset_yaml(coco8_on_server)
    monkeypatch.delenv("YOLOFORGE_API_KEY")
    monkeypatch.setenv("YOLOFORGE_PLATFORM_URL", server.url)
    with pytest.raises(DatasetError, match=r"no API key for .*set YOLOFORGE_API_KEY"):
        load_dataset_yaml(coco8_on_server)
    r = run_cli("detect", "train", f"data={coco8_on_server}", "epochs=1",
                env=clean_env(YOLOFORGE_PLATFORM_URL=server.url, YOLOFORGE_API_KEY="yf_wrong"))  # fmt: skip
    assert r.returncode == 2  # a key the user can fix
    assert r.stderr.strip().splitlines()[-1].startswith("yoloforge: error: the platform server at ")


def test_download_once_resume_and_offline(
    server: ServerProcess, alice_key: str, coco8_on_server: str, coco8_zip: Path, tmp_path: Path, monkeypatch
) -> None:
    """A half-downloaded archive resumes (Range) and is checked; a pinned version already here needs no server."""
    from yoloforge.data.dataset_yaml import load_dataset_yaml
    from yoloforge.data.files import DatasetError

    ds = tmp_path / "ds"
    monkeypatch.setenv("YOLOFORGE_DATASETS_DIR", str(ds))
    monkeypatch.setenv("YOLOFORGE_PLATFORM_URL", server.url)
    monkeypatch.setenv("YOLOFORGE_API_KEY", alice_key)
    host = server.url.removeprefix("http://").replace(":", "_")
    part = ds / ".downloads" / f"{host}-alice-coco8-v1.zip.part"
    part.parent.mkdir(parents=True)
    data = coco8_zip.read_bytes()
    part.write_bytes(data[: len(data) // 2])  # an earlier download cut halfway
    info = load_dataset_yaml(f"{coco8_on_server}:1")
    assert info.nc == 80 and len(info.train) == 1 and Path(info.train[0]).is_dir()
    assert not part.exists()
    marker = (ds / "platform" / host / "alice" / "coco8" / "v1" / ".yoloforge-dataset.json").read_text()
    assert hashlib.sha256(data).hexdigest() in marker
    monkeypatch.setenv("YOLOFORGE_API_KEY", "")  # without a key any request would fail: none is made
    again = load_dataset_yaml(f"{coco8_on_server}:1")  # pinned and already here
    assert again.path == info.path
    with pytest.raises(DatasetError, match="no API key"):  # the latest version must be asked for
        load_dataset_yaml(coco8_on_server)
