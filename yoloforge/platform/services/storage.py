"""Files of the platform (dataset archives, checkpoints, exports) behind one small interface over fsspec.

A storage URL is a local folder (`/srv/yoloforge/storage`, `file:///...`) or an S3 prefix
(`s3://bucket/prefix`, through s3fs; credentials from the usual AWS_* variables, `endpoint_url` for
MinIO or moto). Keys are relative paths such as `datasets/12/v1/3f2a....zip`.

Writes are all-or-nothing: a local file is written beside its target and renamed into place; an S3
object is committed only when complete (a failed multipart upload is aborted). Every write returns
the object's size and SHA-256, computed while the bytes pass, so nothing is read twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

CHUNK = 1 << 20  # bytes per read and per streamed response chunk
S3_BLOCK = 8 << 20  # s3fs multipart part size: memory held per upload (its default is 50 MiB)
_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class StorageError(Exception):
    """A storage key is invalid or its object is missing."""


class ObjectTooLarge(StorageError):
    """A write went past its `max_bytes`; nothing was stored."""


@dataclass(frozen=True)
class StoredObject:
    """What a write stored: the key, its size in bytes and its hex SHA-256."""

    key: str
    size: int
    sha256: str


def check_key(key: str) -> str:
    """`key` if it is a relative path of safe segments (no `..`, no leading `/`); else StorageError."""
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise StorageError(f"invalid storage key {key!r}: use relative paths of letters, digits, '.', '_', '-'")
    return key


class Storage:
    """One storage location; thread-safe for concurrent reads and writes of different keys."""

    def __init__(self, url: str, *, endpoint_url: str | None = None) -> None:
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        options: dict[str, Any] = {}
        if url.startswith("s3://"):
            options = {"client_kwargs": {"endpoint_url": endpoint_url}} if endpoint_url else {}
            options["default_block_size"] = S3_BLOCK
        self.url = url
        self.fs, root = fsspec.core.url_to_fs(url, **options)
        self.local = isinstance(self.fs, LocalFileSystem)
        self.root = root.rstrip("/")
        if self.local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> str:
        """The backend path of `key` (a file path, or bucket/prefix/key)."""
        return f"{self.root}/{check_key(key)}"

    # --- writes ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writer(self, key: str) -> Iterator[IO[bytes]]:
        path = self.path(key)
        if self.local:
            from yoloforge.utils.io import atomic_open

            with atomic_open(path) as f:
                yield f
            return
        f = self.fs.open(path, "wb", autocommit=False)
        try:
            yield f
            f.close()
            f.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                f.discard()
            raise

    def put_stream(self, key: str, src: BinaryIO | IO[bytes], *, max_bytes: int | None = None) -> StoredObject:
        """Copy `src` to `key` in 1 MiB chunks, hashing on the way; ObjectTooLarge past `max_bytes`."""
        h, size = hashlib.sha256(), 0
        with self._writer(key) as dst:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ObjectTooLarge(f"{key}: more than {max_bytes} bytes")
                h.update(chunk)
                dst.write(chunk)
        return StoredObject(key, size, h.hexdigest())

    def put_file(self, key: str, source: str | os.PathLike[str]) -> StoredObject:
        """Store a local file under `key`."""
        with open(source, "rb") as src:
            return self.put_stream(key, src)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Store `data` under `key` (for small objects; large ones go through put_stream)."""
        import io

        return self.put_stream(key, io.BytesIO(data))

    # --- reads -------------------------------------------------------------------------------------
    def open(self, key: str) -> BinaryIO:
        """A seekable binary reader of `key`; StorageError when it is missing."""
        try:
            return self.fs.open(self.path(key), "rb")
        except FileNotFoundError as e:
            raise StorageError(f"no object {key!r} in {self.url}") from e

    def get_bytes(self, key: str) -> bytes:
        """The whole object (small objects only)."""
        with self.open(key) as f:
            return f.read()

    def get_file(self, key: str, dest: str | os.PathLike[str]) -> StoredObject:
        """Copy `key` to the local file `dest` (atomically); returns its size and SHA-256."""
        from yoloforge.utils.io import atomic_open

        h, size = hashlib.sha256(), 0
        with self.open(key) as src, atomic_open(dest) as dst:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                dst.write(chunk)
        return StoredObject(key, size, h.hexdigest())

    def stream(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes [start, end) of `key` (end None: to the end) in chunks, for HTTP responses."""
        with self.open(key) as f:
            f.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                chunk = f.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def sha256(self, key: str) -> str:
        """Hex SHA-256 of the stored bytes (read through; for checks, not for hot paths)."""
        h = hashlib.sha256()
        for chunk in self.stream(key):
            h.update(chunk)
        return h.hexdigest()

    def size(self, key: str) -> int:
        """Size of `key` in bytes; StorageError when it is missing."""
        try:
            return int(self.fs.size(self.path(key)))
        except FileNotFoundError as e:
            raise StorageError(f"no object {key!r} in {self.url}") from e

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(key))

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under `prefix/` (e.g. all versions of a deleted dataset)."""
        path = self.path(prefix)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)
