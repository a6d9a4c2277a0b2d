"""Dataset URIs: `data=yf://owner/datasets/name[:N]` (and `ul://...`, Ultralytics' spelling) train on a
dataset stored on a yoloforge platform server.

The server is $YOLOFORGE_PLATFORM_URL (default http://127.0.0.1:8000) and the key $YOLOFORGE_API_KEY
(both also user settings: `yoloforge settings platform_url=... api_key=...`). The version's archive is
downloaded once, with the library's resumable, checksummed download (`yoloforge.data.download.fetch`,
over the server's signed link), unpacked with its safe extraction, and kept in the datasets folder:

    <datasets_dir>/platform/<host_port>/<owner>/<name>/v<N>/   the archive's content
                                                    .../data.yaml   written from the server's layout

A pinned version (`:N`) already downloaded is used without asking the server: versions never change.
A wrong key, a missing dataset and an unreachable server each fail with one line saying which.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from yoloforge.data.files import DatasetError
from yoloforge.utils.log import LOGGER

DEFAULT_URL = "http://127.0.0.1:8000"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_URI = re.compile(rf"^(?P<scheme>yf|ul)://(?P<owner>{_NAME})/datasets/(?P<name>{_NAME})(?::(?P<version>\d{{1,7}}))?/?$")
MARKER = ".yoloforge-dataset.json"
TIMEOUT = 30.0


class PlatformError(DatasetError):
    """The platform server could not be reached, refused the key, or has no such dataset."""


@dataclass(frozen=True)
class DatasetURI:
    """A parsed `yf://owner/datasets/name[:version]`."""

    owner: str
    name: str
    version: int | None = None

    def __str__(self) -> str:
        return f"yf://{self.owner}/datasets/{self.name}" + (f":{self.version}" if self.version else "")


def parse_uri(uri: str) -> DatasetURI:
    """Parse a dataset URI; DatasetError shows the expected form."""
    m = _URI.match(uri.strip())
    if m is None or (m.group("version") is not None and int(m.group("version")) < 1):
        raise DatasetError(
            f"dataset URI {uri!r} is not of the form yf://OWNER/datasets/NAME or yf://OWNER/datasets/NAME:N"
        )
    version = m.group("version")
    return DatasetURI(m.group("owner"), m.group("name"), int(version) if version else None)


def _server() -> tuple[str, str]:
    from yoloforge.cfg.user import load_user_settings

    settings = load_user_settings()
    return (settings.platform_url or DEFAULT_URL).rstrip("/"), settings.api_key.get_secret_value()


def _local_dir(datasets_dir: Path, url: str, ref: DatasetURI, version: int) -> Path:
    host = urllib.parse.urlparse(url).netloc.replace(":", "_") or "server"
    return datasets_dir / "platform" / host / ref.owner / ref.name / f"v{version}"


class _Api:
    """The two JSON requests the download needs, with errors turned into one line each."""

    def __init__(self, url: str, key: str, ref: DatasetURI) -> None:
        import httpx

        self.url, self.ref = url, ref
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)

    def get(self, path: str) -> dict[str, Any]:
        import httpx

        try:
            resp = self.client.get(path)
        except httpx.HTTPError as e:
            raise PlatformError(
                f"cannot reach the platform server at {self.url} ({e.__class__.__name__}: {e}): start it, or set "
                "YOLOFORGE_PLATFORM_URL to its address"
            ) from None
        if resp.status_code == 200:
            return resp.json()
        detail = _detail(resp)
        if resp.status_code == 401:
            raise PlatformError(
                f"the platform server at {self.url} refused the API key ({detail}): check YOLOFORGE_API_KEY"
            )
        if resp.status_code == 404:
            raise PlatformError(f"dataset {self.ref} not found on {self.url} ({detail})")
        raise PlatformError(f"the platform server at {self.url} answered HTTP {resp.status_code} to {path}: {detail}")

    def close(self) -> None:
        self.client.close()


def _detail(resp: Any) -> str:
    try:
        return str(resp.json().get("detail"))
    except (ValueError, AttributeError):
        return resp.text[:200] or resp.reason_phrase


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock file: one process downloads, the others (DDP ranks, parallel runs) wait for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock, the atomic rename still protects the result
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_yaml(tree: Path, layout: dict[str, Any], uri: str) -> Path:
    """data.yaml for the unpacked archive: `path` relative to it, so the folder can move."""
    data: dict[str, Any] = {"path": layout["root"] or "."}
    for split in ("train", "val", "test"):
        sources = layout.get(split) or []
        if sources:
            data[split] = sources if len(sources) > 1 else sources[0]
    data["names"] = dict(enumerate(layout["names"]))
    text = f"# {uri}, downloaded from the yoloforge platform; written by yoloforge\n"
    path = tree / "data.yaml"
    path.write_text(text + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _download(api: _Api, version: dict[str, Any], dest: Path, datasets_dir: Path) -> None:
    """Fetch the archive (resumable, sha256-checked), unpack it beside `dest`, then rename it into place."""
    from yoloforge.data.download import extract_archive, fetch

    stem = "-".join(dest.relative_to(datasets_dir / "platform").parts)
    archive = datasets_dir / ".downloads" / f"{stem}.zip"
    fetch(api.url + version["download_url"], archive, sha256=version["sha256"])
    staging = Path(tempfile.mkdtemp(prefix=".yoloforge-tmp-", dir=dest.parent))
    try:
        extract_archive(archive, staging)
        _write_yaml(staging, version["layout"], version["uri"])
        marker = {"uri": version["uri"], "sha256": version["sha256"], "server": api.url}
        (staging / MARKER).write_text(json.dumps(marker), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)  # an incomplete copy without its marker
        os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive.unlink(missing_ok=True)


def resolve(uri: str) -> Path:
    """The local data.yaml of the dataset `uri`, downloading the version first when it is not here yet.

    Raises DatasetError for a malformed URI and PlatformError (a DatasetError) for a missing key, an
    unreachable server, a refused key or a missing dataset.
    """
    from yoloforge.cfg.user import load_user_settings

    ref = parse_uri(uri)
    url, key = _server()
    datasets_dir = load_user_settings().datasets_dir.absolute()
    if ref.version is not None:
        dest = _local_dir(datasets_dir, url, ref, ref.version)
        if (dest / MARKER).is_file():
            return dest / "data.yaml"
    if not key:
        raise PlatformError(f"{uri}: no API key for {url}: set YOLOFORGE_API_KEY (create one on the server)")
    api = _Api(url, key, ref)
    try:
        number = ref.version or api.get(f"/api/v1/datasets/{ref.owner}/{ref.name}")["latest_version"]
        if not number:
            raise PlatformError(f"dataset {ref} on {url} has no versions yet: upload one")
        dest = _local_dir(datasets_dir, url, ref, number)
        with _lock(dest.parent / f".v{number}.lock"):
            if not (dest / MARKER).is_file():
                version = api.get(f"/api/v1/datasets/{ref.owner}/{ref.name}/versions/{number}")
                pinned = DatasetURI(ref.owner, ref.name, number)
                LOGGER.info("Dataset %s is not here yet: downloading it into %s", pinned, dest)
                _download(api, version, dest, datasets_dir)
    finally:
        api.close()
    return dest / "data.yaml"
