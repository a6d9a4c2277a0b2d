"""Dataset uploads through the API: the library's report on real data, versions, visibility, downloads."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.platform.conftest import copy_tree, upload
from tests.platform.support.archives import label_counts, zip_tree

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the report does not depend on the DB


@SQLITE_ONLY
def test_coco128_report_matches_the_label_files(client, alice, coco128_zip, coco128_dir) -> None:
    r = upload(client, alice, coco128_zip, "coco128")
    assert r.status_code == 201, r.text
    v = r.json()
    instances, per_class = label_counts(coco128_dir)
    names = yaml.safe_load((coco128_dir / "coco128.yaml").read_text())["names"]
    report = v["report"]
    assert v["number"] == 1 and v["uri"] == "yf://alice/datasets/coco128:1"
    assert (
        v["sha256"] == hashlib.sha256(coco128_zip.read_bytes()).hexdigest() and v["size"] == coco128_zip.stat().st_size
    )
    assert report["images"] == 256 and report["instances"] == instances and report["defects"] == []
    assert {c["id"]: c["instances"] for c in report["classes"] if c["instances"]} == per_class
    assert [c["name"] for c in report["classes"]] == [names[i] for i in range(80)]
    assert report["splits"]["train"]["images"] == 128 and report["splits"]["val"]["images"] == 128
    assert v["layout"] == {
        "yaml": "coco128/coco128.yaml",
        "root": "coco128",
        "train": ["images/train2017"],
        "val": ["images/val2017"],
        "test": [],
        "names": [names[i] for i in range(80)],
    }


def _break(tree: Path) -> dict[str, tuple[int | None, str]]:
    """Damage a coco128 copy; returns {file in the archive: (line, words the defect must contain)}."""
    labels, images = tree / "labels" / "train2017", tree / "images" / "train2017"
    expected = {}
    lb = labels / "000000000009.txt"
    n = len(lb.read_text().splitlines())
    lb.write_text(lb.read_text() + "99 0.5 0.5 0.1 0.1\n")  # class id >= nc: image skipped
    expected[f"coco128/labels/train2017/{lb.name}"] = (n + 1, "class id")
    lb = labels / "000000000030.txt"
    first = lb.read_text().splitlines()[0]
    n = len(lb.read_text().splitlines())
    lb.write_text(lb.read_text() + first + "\n")  # duplicate row: removed
    expected[f"coco128/labels/train2017/{lb.name}"] = (n + 1, "duplicate of line 1")
    lb = labels / "000000000034.txt"
    lb.write_text("0 0.5 0.5 0.2\n")  # four columns: image skipped
    expected[f"coco128/labels/train2017/{lb.name}"] = (1, "wrong column count")
    im = images / "000000000025.jpg"
    im.write_bytes(im.read_bytes()[:2000])  # truncated JPEG: image skipped
    expected[f"coco128/images/train2017/{im.name}"] = (None, "corrupt image")
    return expected


@SQLITE_ONLY
def test_broken_copy_reports_every_defect_with_its_file(client, alice, coco128_dir, tmp_path) -> None:
    tree = copy_tree(coco128_dir, tmp_path / "coco128")
    expected = _break(tree)
    archive = zip_tree(tree, tmp_path / "broken.zip", prefix="coco128")
    r = upload(client, alice, archive, "coco128-broken")
    assert r.status_code == 201, r.text
    report = r.json()["report"]
    found = {d["file"]: d for d in report["defects"]}
    for file, (line, words) in expected.items():
        assert file in found, f"no defect reported for {file}: {report['defects']}"
        assert found[file]["line"] == line and words in found[file]["message"], found[file]
    assert len(report["defects"]) == len(expected)
    train = report["splits"]["train"]
    assert train["images"] == 128 - 3  # the three skipped images
    assert train["skipped"] == {"class id >= nc": 1, "wrong column count": 1, "corrupt image": 1}
    assert train["fixed"] == {"duplicate": 1}
    assert r.json()["defects"] == 4


def test_versions_visibility_and_download(client, alice, bob, coco8_zip, tmp_path) -> None:
    """Uploads add immutable versions; private ones are invisible to others; downloads carry the sha256."""
    v1 = upload(client, alice, coco8_zip, "coco8").json()
    other = tmp_path / "coco8-v2.zip"
    with zipfile.ZipFile(coco8_zip) as src, zipfile.ZipFile(other, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("000000000009.jpg"):
                dst.writestr(info, src.read(info))
    r = upload(client, alice, other, "coco8", description="7 images")
    assert r.status_code == 201 and r.json()["number"] == 2 and r.json()["report"]["images"] == 7
    r = upload(client, alice, other, "COCO8")
    assert r.status_code == 409 and "upload to that name to add a version" in r.json()["detail"]
    ds = client.get("/api/v1/datasets/alice/coco8", headers=alice.auth()).json()
    assert ds["latest_version"] == 2 and [v["number"] for v in ds["versions"]] == [1, 2]
    assert ds["visibility"] == "private" and ds["description"] == "7 images"
    assert client.get("/api/v1/datasets/alice/coco8", headers=bob.auth()).status_code == 404
    assert "alice" not in [d["owner"] for d in client.get("/api/v1/datasets", headers=bob.auth()).json()["items"]]

    r = client.get("/api/v1/datasets/alice/coco8/download?version=1", headers=alice.auth())
    assert r.status_code == 200 and r.content == coco8_zip.read_bytes()
    assert r.headers["x-checksum-sha256"] == v1["sha256"] == hashlib.sha256(r.content).hexdigest()
    assert r.headers["etag"] == f'"{v1["sha256"]}"' and "alice-coco8-v1.zip" in r.headers["content-disposition"]
    latest = client.get("/api/v1/datasets/alice/coco8/download", headers=alice.auth())
    assert latest.content == other.read_bytes()
    part = client.get(
        "/api/v1/datasets/alice/coco8/download?version=1", headers={**alice.auth(), "Range": "bytes=100-199"}
    )
    assert part.status_code == 206 and part.content == coco8_zip.read_bytes()[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{v1['size']}"
    tail = client.get("/api/v1/datasets/alice/coco8/download?version=1", headers={**alice.auth(), "Range": "bytes=-10"})
    assert tail.content == coco8_zip.read_bytes()[-10:]
    bad = client.get(
        "/api/v1/datasets/alice/coco8/download?version=1", headers={**alice.auth(), "Range": "bytes=99999999-"}
    )
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{v1['size']}"
    r = client.get("/api/v1/datasets/alice/coco8/download?version=3", headers=alice.auth())
    assert r.status_code == 404 and "no version 3 (latest: 2)" in r.json()["detail"]

    r = client.patch("/api/v1/datasets/alice/coco8", headers=alice.auth(), json={"visibility": "public"})
    assert r.status_code == 200
    listed = client.get("/api/v1/datasets", headers=bob.auth()).json()["items"]
    assert [(d["owner"], d["name"]) for d in listed] == [("alice", "coco8")]
    assert (
        client.get("/api/v1/datasets/alice/coco8/download?version=2", headers=bob.auth()).content == other.read_bytes()
    )
    assert client.delete("/api/v1/datasets/alice/coco8", headers=bob.auth()).status_code == 403


def test_signed_link_downloads_without_a_key(client, alice, bob, coco8_zip) -> None:
    upload(client, alice, coco8_zip, "coco8")
    version = client.get("/api/v1/datasets/alice/coco8/versions/1", headers=alice.auth()).json()
    link = version["download_url"]
    r = client.get(link)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == version["sha256"]
    assert client.get(link.replace("token=", "token=x")).status_code == 401
    assert client.get(link.replace("version=1", "version=2")).status_code == 404  # no v2: the link is for v1 only
    r = client.get("/api/v1/datasets/alice/coco8/download")
    assert r.status_code == 401 and "download_url" in r.json()["detail"]


def test_images_and_labels_folders_with_names_from_the_form(client, alice, tmp_path) -> None:
    from yoloforge.data.dataset_yaml import PACKAGED_DIR

    names = yaml.safe_load((PACKAGED_DIR / "coco8.yaml").read_text())["names"]
    archive = zip_tree(PACKAGED_DIR / "coco8", tmp_path / "folders.zip", prefix="mydata")
    with zipfile.ZipFile(archive) as zf:
        assert not [n for n in zf.namelist() if n.endswith((".yaml", ".yml"))]
    r = upload(client, alice, archive, "folders")
    assert r.status_code == 422 and r.json()["detail"].startswith("the archive has no dataset YAML")
    r = upload(client, alice, archive, "folders", names=json.dumps([names[i] for i in range(80)]))
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["layout"]["root"] == "mydata" and v["layout"]["train"] == ["images/train"]
    assert v["report"]["images"] == 8 and v["layout"]["names"][:3] == ["person", "bicycle", "car"]
    r = upload(client, alice, archive, "folders-few", names="person,bicycle")  # coco8 uses ids up to 77
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("folders.zip: no usable image in any split (")
    assert "first: mydata/labels/train/000000000009.txt:1: class id >= nc: class 45 but nc=2" in r.json()["detail"]


def test_refused_archives_say_why(client, alice, tmp_path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("data.yaml", "train: images\nval: images\nnames: [a]\n")
        zf.writestr("../../escape.txt", "gotcha")
    r = upload(client, alice, evil, "evil")
    assert r.status_code == 422 and "'../../escape.txt' escapes the target folder" in r.json()["detail"]
    assert "evil.zip" in r.json()["detail"]
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * (64 << 20))
    r = upload(client, alice, bomb, "bomb")
    assert r.status_code == 422 and "zip bomb" in r.json()["detail"]
    text = tmp_path / "notes.zip"
    text.write_text("not a zip")
    r = upload(client, alice, text, "notes")
    assert r.status_code == 422 and "not a zip archive" in r.json()["detail"]
    r = client.post("/api/v1/datasets", headers=alice.auth(), data={"name": "nofile"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    assert client.get("/api/v1/datasets", headers=alice.auth()).json()["total"] == 0
    assert not list((Path(client.app.state.platform.settings.home) / "tmp").iterdir())  # no scratch left behind


@SQLITE_ONLY
def test_upload_size_cap(tmp_path, db_url, coco8_zip) -> None:
    """Past max_upload_mb the request is refused with 413 before the archive is read."""
    from fastapi.testclient import TestClient

    from tests.platform.conftest import make_account
    from yoloforge.platform.app import create_app
    from yoloforge.platform.settings import ServerSettings

    app = create_app(ServerSettings(home=tmp_path / "h", database_url=db_url, max_upload_mb=1))
    carol = make_account(app, "carol")
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w") as zf:
        zf.writestr("noise.bin", os.urandom(3 << 20))
    with TestClient(app) as client:
        r = upload(client, carol, coco8_zip, "coco8")  # 1.9 MB: within the body limit (file + 1 MiB of form)
        assert r.status_code == 413 and r.json()["detail"] == "coco8.zip is over the 1 MiB limit"
        r = upload(client, carol, big, "big")  # 3 MB: refused before the body is read
        assert r.status_code == 413 and "uploads may be 1 MiB" in r.json()["detail"]
        assert client.get("/api/v1/datasets", headers=carol.auth()).json()["total"] == 0
    app.state.platform.close()
    shutil.rmtree(tmp_path / "h", ignore_errors=True)
