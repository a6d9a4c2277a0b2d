"""The storage service on local files and on S3 (moto's server on 127.0.0.1): same behaviour on both."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from yoloforge.platform.services.storage import ObjectTooLarge, Storage, StorageError


@pytest.fixture(params=["file", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "file":
        yield Storage(str(tmp_path / "store"))
        return
    from tests.platform.support.s3 import make_bucket

    endpoint = request.getfixturevalue("s3_endpoint")
    yield Storage(f"s3://{make_bucket(endpoint)}/prefix", endpoint_url=endpoint)


class Exploding(io.RawIOBase):
    """A stream that fails after `n` bytes, like a client that disconnects mid-upload."""

    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        k = min(len(b), self.left)
        b[:k] = b"x" * k
        self.left -= k
        return k


def test_round_trip_with_digest(storage: Storage, fixtures_dir: Path) -> None:
    src = fixtures_dir / "yolo11n-random.pt"  # a real 5.5 MB file: several chunks, several S3 parts
    data = src.read_bytes()
    stored = storage.put_file("models/1/checkpoints/best.pt", src)
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert storage.exists("models/1/checkpoints/best.pt") and storage.size("models/1/checkpoints/best.pt") == len(data)
    assert storage.get_bytes("models/1/checkpoints/best.pt") == data
    assert storage.sha256("models/1/checkpoints/best.pt") == stored.sha256
    assert b"".join(storage.stream("models/1/checkpoints/best.pt", 1000, 3_000_000)) == data[1000:3_000_000]
    assert b"".join(storage.stream("models/1/checkpoints/best.pt", len(data) - 5)) == data[-5:]


def test_overwrite_delete_and_prefix(storage: Storage, tmp_path: Path) -> None:
    storage.put_bytes("datasets/7/a.zip", b"one")
    storage.put_bytes("datasets/7/a.zip", b"two")
    storage.put_bytes("datasets/7/b.zip", b"three")
    storage.put_bytes("datasets/8/c.zip", b"four")
    assert storage.get_bytes("datasets/7/a.zip") == b"two"
    storage.delete("datasets/7/a.zip")
    storage.delete("datasets/7/a.zip")  # missing: no error
    assert not storage.exists("datasets/7/a.zip")
    storage.delete_prefix("datasets/7")
    assert not storage.exists("datasets/7/b.zip") and storage.get_bytes("datasets/8/c.zip") == b"four"
    with pytest.raises(StorageError, match=r"no object 'datasets/7/b\.zip'"):
        storage.get_bytes("datasets/7/b.zip")
    out = storage.get_file("datasets/8/c.zip", tmp_path / "c.zip")
    assert (tmp_path / "c.zip").read_bytes() == b"four" and out.sha256 == hashlib.sha256(b"four").hexdigest()


def test_failed_writes_store_nothing(storage: Storage) -> None:
    """Too large, or a source failing midway: no object appears, and an older one of the same key stays."""
    with pytest.raises(ObjectTooLarge):
        storage.put_stream("up/x.zip", io.BytesIO(os.urandom(3 << 20)), max_bytes=2 << 20)
    assert not storage.exists("up/x.zip")
    storage.put_bytes("up/y.zip", b"old")
    with pytest.raises(ConnectionResetError):
        storage.put_stream("up/y.zip", io.BufferedReader(Exploding(10 << 20)))
    assert storage.get_bytes("up/y.zip") == b"old"
    if storage.local:
        leftovers = [p for p in Path(storage.root).rglob("*") if p.is_file() and p.name != "y.zip"]
        assert leftovers == []


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/./b", "", "a b", "x/.."])
def test_keys_stay_inside(storage: Storage, key: str) -> None:
    with pytest.raises(StorageError, match="invalid storage key"):
        storage.put_bytes(key, b"x")
