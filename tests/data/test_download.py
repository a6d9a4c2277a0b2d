"""Downloads against a real HTTP server on 127.0.0.1, with real zip/tar archives built here.

The server speaks Range, can drop a connection half way, and counts requests, so retries, resume,
digest checks and the refusal of malicious archives are exercised over real sockets.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from yoloforge.data.download import (
    DownloadError,
    UnsafeArchiveError,
    download_dataset,
    extract_archive,
    fetch,
    file_name_for,
    parse_download_spec,
)
from yoloforge.data.files import DatasetError

# --- a small real HTTP server ------------------------------------------------------------------


@dataclass
class Server:
    """Files served at http://127.0.0.1:<port>/<name>, and what the clients asked for."""

    files: dict[str, bytes]
    base: str = ""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    drop_once: set[str] = field(default_factory=set)  # send half the body, then close, once
    drop_always: set[str] = field(default_factory=set)
    ignore_range: bool = False
    bad_range: bool = False  # answer a Range request with a 206 for the wrong bytes

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def hits(self, name: str) -> list[str | None]:
        return [rng for n, rng in self.requests if n == name]


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name, rng = unquote(self.path.lstrip("/")), self.headers.get("Range")
            server.requests.append((name, rng))
            data = server.files.get(name)
            if data is None:
                self.send_error(404)
                return
            start = int(re.match(r"bytes=(\d+)-", rng).group(1)) if rng and not server.ignore_range else 0
            if start >= len(data) > 0:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            if start and server.bad_range:
                start = 0
                self.send_header("Content-Range", f"bytes 0-{len(data) - 1}/{len(data)}")
            elif start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if name in server.drop_once or name in server.drop_always:
                server.drop_once.discard(name)
                body = body[: len(body) // 2]  # the connection closes after half the promised bytes
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve(files: dict[str, bytes]) -> Iterator[Server]:
    """Serve `files` from a ThreadingHTTPServer on 127.0.0.1 (a free port) for the block's duration."""
    server = Server(dict(files))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    server.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# --- real archives -----------------------------------------------------------------------------


def make_zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(entries: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_with(special: tarfile.TarInfo) -> bytes:
    """A tar.gz holding one ordinary file, then `special`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ok = tarfile.TarInfo("mini/ok.txt")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"ok"))
        tf.addfile(special, io.BytesIO(b"evil") if special.isfile() else None)
    return buf.getvalue()


def _tar_entry(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = 4 if kind == tarfile.REGTYPE else 0
    return info


def _zip_symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mini/ok.txt", b"ok")
        link = zipfile.ZipInfo("mini/passwd")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    return buf.getvalue()


DATASET = {
    "mini/images/train/a.jpg": b"\xff\xd8jpeg-a",
    "mini/images/train/b.png": b"\x89PNG-b",
    "mini/labels/train/a.txt": b"0 0.5 0.5 0.2 0.2\n",
    "mini/données d'été/c 1.jpg": b"\xff\xd8jpeg-c",
}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must never go through a proxy configured on the machine."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def ds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "datasets"
    monkeypatch.setenv("YOLOFORGE_DATASETS_DIR", str(folder))
    return folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))


# --- downloads and extraction ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("mini.zip", make_zip),
        ("mini.tar.gz", make_tar),
        ("mini.tgz", make_tar),
        ("mini.tar", lambda e: make_tar(e, "w")),
    ],
)
def test_archive_is_fetched_and_unpacked_into_the_datasets_folder(ds: Path, name: str, build) -> None:
    with serve({name: build(DATASET)}) as server:
        download_dataset(server.url(name), ds)
    assert _tree(ds) == DATASET  # the archive, the .part and the temporary folder are gone
    assert server.hits(name) == [None]


def test_list_of_mappings_with_dir_and_sha256(ds: Path) -> None:
    labels = make_zip({"set/labels/val/x.txt": b"1 0.5 0.5 1 1\n"})
    images = make_zip({"val/x.jpg": b"\xff\xd8x"})
    with serve({"labels.zip": labels, "val%202017.zip": images}) as server:
        spec = [
            {"url": server.url("labels.zip"), "sha256": hashlib.sha256(labels).hexdigest().upper()},
            {"url": server.url("val%25202017.zip"), "dir": "set/images"},
        ]
        download_dataset(spec, ds)
    assert _tree(ds) == {"set/labels/val/x.txt": b"1 0.5 0.5 1 1\n", "set/images/val/x.jpg": b"\xff\xd8x"}


def test_connection_dropped_mid_file_resumes_with_range(ds: Path) -> None:
    data = make_zip({f"mini/images/{i}.jpg": bytes([i]) * 5000 for i in range(40)})
    with serve({"mini.zip": data}) as server:
        server.drop_once.add("mini.zip")
        download_dataset(server.url("mini.zip"), ds, backoff=0)
    assert server.hits("mini.zip") == [None, f"bytes={len(data) // 2}-"]
    assert len(_tree(ds)) == 40


def test_server_ignoring_range_restarts_the_file(ds: Path) -> None:
    data = make_tar({"mini/a.txt": b"a" * 20000, "mini/b.txt": b"b" * 20000})
    with serve({"mini.tgz": data}) as server:
        server.drop_once.add("mini.tgz")
        server.ignore_range = True
        path = fetch(server.url("mini.tgz"), ds / "mini.tgz", backoff=0)
    assert path.read_bytes() == data
    assert len(server.hits("mini.tgz")) == 2


def test_a_misplaced_partial_answer_restarts_the_file(ds: Path) -> None:
    data = os.urandom(30000)
    with serve({"r.bin": data}) as server:
        server.drop_once.add("r.bin")
        server.bad_range = True
        fetch(server.url("r.bin"), ds / "r.bin", backoff=0)
    assert server.hits("r.bin") == [None, "bytes=15000-", None]
    assert (ds / "r.bin").read_bytes() == data


def test_retries_give_up_then_a_later_call_resumes_the_part_file(ds: Path) -> None:
    data = b"x" * 10000
    with serve({"big.bin": data}) as server:
        server.drop_always.add("big.bin")
        with pytest.raises(DownloadError, match=r"big\.bin failed after 3 attempts.*run again to resume"):
            fetch(server.url("big.bin"), ds / "big.bin", attempts=3, backoff=0)
        assert len(server.hits("big.bin")) == 3
        partial = (ds / "big.bin.part").stat().st_size
        assert 0 < partial < len(data)
        server.drop_always.clear()
        fetch(server.url("big.bin"), ds / "big.bin", backoff=0)
        assert server.hits("big.bin")[-1] == f"bytes={partial}-"
    assert (ds / "big.bin").read_bytes() == data
    assert not (ds / "big.bin.part").exists()


def test_a_complete_file_is_fetched_once(ds: Path) -> None:
    data = b"payload"
    with serve({"f.bin": data}) as server:
        for _ in range(2):
            fetch(server.url("f.bin"), ds / "f.bin", sha256=hashlib.sha256(data).hexdigest())
    assert server.hits("f.bin") == [None]


def test_http_404_fails_at_once(ds: Path) -> None:
    with serve({}) as server, pytest.raises(DownloadError, match=r"nope\.zip failed: HTTP 404"):
        download_dataset(server.url("nope.zip"), ds, backoff=0)
    assert server.hits("nope.zip") == [None]
    assert list(ds.iterdir()) == []


def test_sha256_mismatch_fails_and_leaves_nothing(ds: Path, tmp_path: Path) -> None:
    with serve({"mini.zip": make_zip(DATASET)}) as server:
        spec = {"url": server.url("mini.zip"), "sha256": "0" * 64}
        with pytest.raises(DownloadError, match=r"mini\.zip has sha256 [0-9a-f]{64}, expected 0{64}"):
            download_dataset(spec, ds)
    assert _leftovers(tmp_path) == ["datasets"]


MALICIOUS = {
    "zip ../": (make_zip({"mini/ok.txt": b"ok", "../evil.txt": b"evil"}), "'../evil.txt' escapes"),
    "zip nested ../": (make_zip({"mini/ok.txt": b"ok", "mini/../../evil.txt": b"e"}), "escapes"),
    "zip absolute": (make_zip({"mini/ok.txt": b"ok", "/tmp/evil.txt": b"evil"}), "is an absolute path"),
    "zip symlink": (_zip_symlink(), "'mini/passwd' is a symbolic link"),
    "tar ../": (_tar_with(_tar_entry("../evil.txt")), "'../evil.txt' escapes"),
    "tar absolute": (_tar_with(_tar_entry("/tmp/evil.txt")), "'/tmp/evil.txt' is an absolute path"),
    "tar symlink": (_tar_with(_tar_entry("mini/etc", tarfile.SYMTYPE, "/etc")), "is a symbolic link"),
    "tar hardlink": (_tar_with(_tar_entry("mini/pw", tarfile.LNKTYPE, "/etc/passwd")), "is a hard link"),
    "tar device": (_tar_with(_tar_entry("mini/null", tarfile.CHRTYPE)), "'mini/null' is a device"),
    "tar fifo": (_tar_with(_tar_entry("mini/fifo", tarfile.FIFOTYPE)), "is a device, fifo"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archives_are_refused_and_leave_nothing(ds: Path, tmp_path: Path, case: str) -> None:
    data, why = MALICIOUS[case]
    name = "bad.zip" if case.startswith("zip") else "bad.tar.gz"
    with serve({name: data}) as server, pytest.raises(UnsafeArchiveError) as err:
        download_dataset(server.url(name), ds)
    assert f"refusing to extract {name}: entry" in str(err.value)
    assert why in str(err.value)
    assert _leftovers(tmp_path) == ["datasets"]  # not even the harmless mini/ok.txt, nor the archive


def test_not_an_archive_is_a_clear_error_and_is_deleted(ds: Path) -> None:
    page = b"<html>Service unavailable</html>"
    with serve({"data.zip": page}) as server, pytest.raises(DownloadError, match=r"data\.zip is not a zip or tar"):
        download_dataset(server.url("data.zip"), ds)
    assert list(ds.iterdir()) == []


def test_truncated_archive_is_reported_as_corrupt(tmp_path: Path) -> None:
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(make_tar({"a.txt": os.urandom(100_000)})[:5000])  # random: does not compress
    with pytest.raises(DownloadError, match=r"cut\.tar\.gz is a corrupt archive"):
        extract_archive(archive, tmp_path / "out")


def test_all_or_nothing_when_a_later_archive_fails(ds: Path) -> None:
    with serve({"labels.zip": make_zip({"set/labels/a.txt": b""})}) as server, pytest.raises(DownloadError):
        download_dataset([server.url("labels.zip"), server.url("missing.zip")], ds, backoff=0)
    assert not (ds / "set").exists()
    assert _leftovers(ds) == [".downloads", ".downloads/labels.zip"]  # kept: the next call reuses it


def test_prepare_runs_on_the_staged_tree_and_a_failure_moves_nothing(ds: Path) -> None:
    seen: list[list[str]] = []

    def prepare(tree: Path) -> None:
        seen.append(sorted(_tree(tree)))
        raise DatasetError("conversion failed")

    with serve({"mini.zip": make_zip(DATASET)}) as server, pytest.raises(DatasetError, match="conversion"):
        download_dataset(server.url("mini.zip"), ds, prepare=prepare)
    assert seen == [sorted(DATASET)]
    assert _leftovers(ds) == [".downloads", ".downloads/mini.zip"]


def test_existing_files_are_kept_when_merging(ds: Path) -> None:
    (ds / "mini" / "labels" / "train").mkdir(parents=True)
    (ds / "mini" / "labels" / "train" / "a.txt").write_text("mine")
    with serve({"mini.zip": make_zip(DATASET)}) as server:
        download_dataset(server.url("mini.zip"), ds)
    assert (ds / "mini" / "labels" / "train" / "a.txt").read_text() == "mine"
    assert (ds / "mini" / "images" / "train" / "b.png").read_bytes() == b"\x89PNG-b"


def test_progress_bar_draws_on_a_terminal(ds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    with serve({"mini.zip": make_zip(DATASET)}) as server:
        download_dataset(server.url("mini.zip"), ds)
    assert "mini.zip" in tty.getvalue()


# --- the download: value -----------------------------------------------------------------------


def test_spec_forms() -> None:
    sha = "ab" * 32
    items = parse_download_spec(["https://h/a.zip", {"url": "http://h/b.tgz", "sha256": sha, "dir": "x/y"}])
    assert [(i.url, i.sha256, i.dir) for i in items] == [("https://h/a.zip", None, ""), ("http://h/b.tgz", sha, "x/y")]
    assert parse_download_spec({"url": "https://h/c.tar"})[0].url == "https://h/c.tar"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ftp://h/a.zip", r"download: 'url' must be an http\(s\) URL"),
        ([], "the list is empty"),
        (["https://h/a.zip", 3], r"download\[1\]: expected a URL or a mapping"),
        ({"url": "https://h/a.zip", "sha256": "abc"}, "'sha256' must be 64 hex digits"),
        ({"url": "https://h/a.zip", "dir": "../outside"}, "'dir' must be a relative folder"),
        ({"url": "https://h/a.zip", "dir": "/abs"}, "'dir' must be a relative folder"),
        ({"url": "https://h/a.zip", "md5": "x"}, r"unknown key\(s\) \['md5'\]"),
    ],
)
def test_bad_spec_is_a_clear_error(spec: object, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_download_spec(spec)


def test_file_name_for_never_escapes() -> None:
    assert file_name_for("https://h/a/b/coco%20128.zip?x=1") == "coco 128.zip"
    assert file_name_for("https://h/x/%2E%2E") == "download"
    assert file_name_for("https://h/a/..%2F..%2Fevil.zip") == "evil.zip"
    assert file_name_for("https://h/") == "download"
