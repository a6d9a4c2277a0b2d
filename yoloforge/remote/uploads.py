"""Chunked, resumable, SHA-256-checked checkpoint uploads over the native protocol.

POST .../runs/{run}/uploads announces (kind, size, sha256) and answers how many bytes the server already
holds (an unfinished upload of the same run, kind and sha256 continues); PUT .../uploads/{token}?offset=N
sends the next chunk. The server checks the SHA-256 when the last byte arrives and refuses a mismatch, so
a file that changed while it was sent is never stored under the wrong digest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from yoloforge.remote.protocol import CHUNK, UploadStart, UploadState


def file_digest(path: Path) -> tuple[int, str]:
    """(size in bytes, hex SHA-256) of `path`, read in 1 MiB blocks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def upload_checkpoint(
    http: httpx.Client, base: str, run_id: str, path: Path, kind: str, *, size: int, sha256: str
) -> UploadState:
    """Upload `path` (whose size and digest the caller measured) and return the finished upload's state.

    Raises httpx.HTTPError (connection errors, non-2xx replies): the caller retries later, and the next try
    continues at the offset the server reports.
    """
    start = UploadStart(kind=kind, filename=path.name, size=size, sha256=sha256)  # type: ignore[arg-type]
    r = http.post(f"{base}/api/v1/stream/runs/{run_id}/uploads", json=start.model_dump())
    r.raise_for_status()
    state = UploadState.model_validate(r.json())
    with open(path, "rb") as f:
        while not state.complete:
            f.seek(state.received)
            chunk = f.read(CHUNK)
            r = http.put(f"{base}/api/v1/stream/uploads/{state.token}", params={"offset": state.received},
                         content=chunk, headers={"Content-Type": "application/octet-stream"})  # fmt: skip
            if r.status_code == 409:  # the server holds a different offset: continue from there
                r = http.get(f"{base}/api/v1/stream/uploads/{state.token}")
                r.raise_for_status()
                state = UploadState.model_validate(r.json())
                continue
            r.raise_for_status()
            state = UploadState.model_validate(r.json())
    return state
