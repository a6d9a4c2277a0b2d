"""Fetch a dataset's archives once into the datasets folder, and unpack them safely.

The `download:` key of a dataset YAML is a URL, a `{url, sha256, dir}` mapping, or a list of them:

    download: https://example.org/mydata.zip
    download:
      - url: https://example.org/images.zip
        sha256: 5f2c...   # optional: the archive is refused when its digest differs
        dir: mydata/images  # optional: sub-folder of the datasets folder to unpack into

Archives (zip, tar, tar.gz/tgz) download to `<datasets>/.downloads/<name>.part`, renamed when complete; a broken
connection resumes with an HTTP Range request, or restarts, a few times with backoff. Everything
unpacks into a temporary folder inside the datasets folder and is renamed into place only when all
archives have unpacked, so a failure never leaves a half-extracted dataset. Entries that would land
outside the target (`../`, absolute paths), links and device files are refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import posixpath
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Any

from yoloforge.data.files import DatasetError
from yoloforge.utils.log import LOGGER

CHUNK = 1 << 20
USER_AGENT = "yoloforge (dataset download)"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class DownloadError(DatasetError):
    """A download or an extraction failed; the message names the URL or the archive."""


class UnsafeArchiveError(DownloadError):
    """An archive entry would escape the target folder, or is a link or a device file."""


class _Incomplete(Exception):
    """The connection ended before the whole file arrived (retried)."""


@dataclass(frozen=True)
class DownloadItem:
    """One archive to fetch: where from, its expected digest, and the sub-folder to unpack into."""

    url: str
    sha256: str | None = None
    dir: str = ""


def _path_problem(name: str) -> str | None:
    """Why an archive entry or a `dir:` would land outside its target folder, or None if it is fine."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or PureWindowsPath(name).drive:
        return "is an absolute path"
    norm = posixpath.normpath(posix)
    if norm == ".." or norm.startswith("../"):
        return "escapes the target folder"
    return None


def _parse_item(entry: Any, where: str) -> DownloadItem:
    if isinstance(entry, DownloadItem):
        return entry
    if isinstance(entry, str):
        entry = {"url": entry}
    if not isinstance(entry, dict):
        raise DatasetError(f"{where}: expected a URL or a mapping {{url: ..., sha256: ...}}, got {entry!r}")
    unknown = sorted(set(entry) - {"url", "sha256", "dir"})
    if unknown:
        raise DatasetError(f"{where}: unknown key(s) {unknown}; allowed: url, sha256, dir")
    url, sha, sub = entry.get("url"), entry.get("sha256"), entry.get("dir") or ""
    if not isinstance(url, str) or urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise DatasetError(f"{where}: 'url' must be an http(s) URL, got {url!r}")
    if sha is not None and not (isinstance(sha, str) and _SHA256.match(sha)):
        raise DatasetError(f"{where}: 'sha256' must be 64 hex digits, got {sha!r}")
    if not isinstance(sub, str) or _path_problem(sub):
        raise DatasetError(f"{where}: 'dir' must be a relative folder inside the datasets folder, got {sub!r}")
    return DownloadItem(url=url, sha256=sha.lower() if sha else None, dir=sub)


def parse_download_spec(spec: Any, where: str = "download") -> list[DownloadItem]:
    """Normalise a YAML `download:` value (URL, mapping, or a list of them) to DownloadItems."""
    if isinstance(spec, list):
        if not spec:
            raise DatasetError(f"{where}: the list is empty")
        return [_parse_item(e, f"{where}[{i}]") for i, e in enumerate(spec)]
    return [_parse_item(spec, where)]


def file_name_for(url: str) -> str:
    """The archive's file name: the last part of the URL path (never a folder name like `..`)."""
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path).replace("\\", "/"))
    return name if name not in ("", ".", "..") else "download"


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _progress() -> Any:
    """A rich progress bar on an interactive stderr; silent otherwise (logs, CI, pytest)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    return Progress(*columns, TimeRemainingColumn(), console=console, disable=not sys.stderr.isatty())


def _response_start(resp: Any, offset: int) -> tuple[int, int | None] | None:
    """(where the body starts in the file, total size or None); None when a 206 is not where we asked."""
    if resp.status == 206:
        m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", resp.headers.get("Content-Range", ""))
        if not m or int(m.group(1)) != offset:
            return None
        return offset, None if m.group(2) == "*" else int(m.group(2))
    length = resp.headers.get("Content-Length")
    return 0, int(length) if length and length.isdigit() else None


def _fetch_once(url: str, part: Path, timeout: float, progress: Any, task: Any) -> None:
    """One HTTP GET into `part`, resuming from its current size when the server allows it."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # our partial file does not fit the server's: start over
            part.unlink()
            raise _Incomplete("server refused to resume; starting over") from e
        raise
    with resp:
        where = _response_start(resp, offset)
        if where is None:  # a resumed body we cannot place: start over
            part.unlink()
            raise _Incomplete(f"server answered a resume with {resp.headers.get('Content-Range')!r}")
        start, total = where
        progress.update(task, total=total, completed=start)
        with open(part, "ab" if start else "wb") as f:
            while chunk := resp.read(CHUNK):
                f.write(chunk)
                progress.advance(task, len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Incomplete(f"connection closed after {size} of {total} bytes")


def _download(url: str, part: Path, attempts: int, backoff: float, timeout: float) -> None:
    """Retry `_fetch_once` with exponential backoff; client errors (404, 403...) fail at once."""
    with _progress() as progress:
        task = progress.add_task(part.name.removesuffix(".part"), total=None)
        for attempt in range(1, attempts + 1):
            try:
                _fetch_once(url, part, timeout, progress, task)
                return
            except urllib.error.HTTPError as e:
                if e.code < 500 and e.code not in (408, 429):
                    raise DownloadError(f"download of {url} failed: HTTP {e.code} {e.reason}") from e
                err: Exception = e
            except (OSError, http.client.HTTPException, _Incomplete) as e:
                err = e
            if attempt == attempts:
                raise DownloadError(
                    f"download of {url} failed after {attempts} attempts: {err}. The partial file "
                    f"{part} is kept; run again to resume."
                ) from err
            LOGGER.warning("Download of %s interrupted (%s); retry %d/%d", url, err, attempt, attempts - 1)
            time.sleep(backoff * 2 ** (attempt - 1))


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    attempts: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
) -> Path:
    """Download `url` to `dest` once: an existing `dest` (with the right digest) is reused.

    Bytes go to `dest.part`, which survives failures so the next call resumes it; `dest` appears
    only complete and, when `sha256` is given, verified.
    """
    dest = Path(dest)
    if dest.is_file():
        if sha256 is None or sha256_of(dest) == sha256.lower():
            LOGGER.info("Using %s, downloaded before", dest)
            return dest
        LOGGER.warning("%s does not match its sha256; downloading it again", dest)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    LOGGER.info("Downloading %s to %s", url, dest)
    _download(url, part, attempts, backoff, timeout)
    if sha256 is not None:
        actual = sha256_of(part)
        if actual != sha256.lower():
            part.unlink()
            raise DownloadError(
                f"download of {url} has sha256 {actual}, expected {sha256.lower()}: the file was deleted. "
                "Check the URL and the sha256 in the dataset YAML."
            )
    os.replace(part, dest)
    return dest


def _zip_members(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    """The zip's entries, after refusing any that would escape, link, or create a special file."""
    for info in zf.infolist():
        mode = info.external_attr >> 16
        problem = _path_problem(info.filename)
        if problem is None and stat.S_ISLNK(mode):
            problem = "is a symbolic link"
        elif problem is None and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            problem = "is a device, fifo or socket"
        if problem:
            raise UnsafeArchiveError(f"refusing to extract {archive.name}: entry {info.filename!r} {problem}")
    return zf.infolist()


def _tar_members(tf: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """The tar's entries, after refusing any that would escape, link, or create a special file."""
    members = tf.getmembers()
    for m in members:
        problem = _path_problem(m.name)
        if problem is None and m.issym():
            problem = f"is a symbolic link (to {m.linkname!r})"
        elif problem is None and m.islnk():
            problem = f"is a hard link (to {m.linkname!r})"
        elif problem is None and not (m.isfile() or m.isdir()):
            problem = "is a device, fifo or other special file"
        if problem:
            raise UnsafeArchiveError(f"refusing to extract {archive.name}: entry {m.name!r} {problem}")
    return members


def extract_archive(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Unpack a zip or tar (any compression) into `dest`, checking every entry before writing any.

    Raises UnsafeArchiveError for a dangerous entry and DownloadError for a corrupt or unknown file.
    Callers unpack into a fresh temporary folder, since a failure may leave part of it written.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(dest, members=_zip_members(zf, archive))
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tf:
                members = _tar_members(tf, archive)
                if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: a second guard
                    tf.extractall(dest, members=members, filter="data")
                else:  # pragma: no cover - older Pythons rely on _tar_members alone
                    tf.extractall(dest, members=members)
        else:
            raise DownloadError(f"{archive.name} is not a zip or tar archive (an error page instead of data?)")
    except tarfile.FilterError as e:
        raise UnsafeArchiveError(f"refusing to extract {archive.name}: {e}") from e
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as e:
        raise DownloadError(f"{archive.name} is a corrupt archive ({e}); it was deleted, run again") from e


def _merge_into(src: Path, dst: Path) -> None:
    """Move `src`'s content into `dst` by renames; existing files in `dst` are kept, never replaced."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if not os.path.lexists(target):
            os.replace(entry, target)
        elif entry.is_dir() and not entry.is_symlink() and target.is_dir():
            _merge_into(entry, target)
        else:
            LOGGER.warning("Kept the existing %s; the download's copy was discarded", target)


def download_dataset(
    spec: Any,
    datasets_dir: str | os.PathLike[str],
    *,
    prepare: Callable[[Path], None] | None = None,
    attempts: int = 4,
    backoff: float = 1.0,
) -> None:
    """Fetch and unpack every archive of `spec` into `datasets_dir`, all or nothing.

    Archives download into `datasets_dir/.downloads/` and unpack under a temporary `.yoloforge-tmp-*`
    folder inside `datasets_dir`, where `prepare(tree)` may convert them (e.g. VOC XML -> YOLO
    labels); the result then moves into place by renames. Archives are deleted once the dataset is
    in place; after a failure, complete archives and `.part` files stay so the next call resumes.
    """
    items = parse_download_spec(spec)
    root = Path(datasets_dir)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".yoloforge-tmp-", dir=root))
    archives: list[Path] = []
    try:
        tree = staging / "tree"
        for i, item in enumerate(items):
            dest = root / ".downloads" / file_name_for(item.url)
            archive = fetch(item.url, dest, sha256=item.sha256, attempts=attempts, backoff=backoff)
            archives.append(archive)
            unpacked = staging / f"unpack{i}"
            try:
                extract_archive(archive, unpacked)
            except DownloadError:
                archive.unlink(missing_ok=True)  # unsafe or corrupt: never reuse it
                raise
            _merge_into(unpacked, tree / item.dir)
        tree.mkdir(exist_ok=True)
        if prepare is not None:
            prepare(tree)
        _merge_into(tree, root)
        for archive in archives:
            archive.unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # only when empty: partial downloads stay for resuming
            (root / ".downloads").rmdir()
