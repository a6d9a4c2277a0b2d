"""Checkpoint uploads of streaming runs: chunks into the server's scratch folder, then into storage.

An upload is announced (kind, size, sha256), filled by PUTs at increasing offsets, checked against its
SHA-256 when the last byte arrives, and committed into the model's checkpoints by the event that
announces it (`checkpoint` natively, `checkpoint_saved` from the Ultralytics client). Announcing the same
(run, kind, sha256) again continues the unfinished upload (resumable across client restarts).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import uuid
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from yoloforge.platform.db import Checkpoint, Model, Run, Upload
from yoloforge.platform.services.errors import Conflict, Invalid, NotFound, TooLarge
from yoloforge.platform.services.storage import Storage

MAX_CHECKPOINT = 8 << 30  # bytes: the largest checkpoint accepted


class OffsetMismatch(Conflict):
    """A chunk for another offset than the server holds; `upload` says where to continue."""

    def __init__(self, upload: Upload) -> None:
        super().__init__(f"upload {upload.token} holds {upload.received} bytes: send the chunk at that offset")
        self.upload = upload


def scratch_file(scratch: Path, upload: Upload) -> Path:
    return scratch / "uploads" / f"{upload.token}.part"


def begin_upload(session: Session, run: Run, kind: str, filename: str, size: int | None, sha256: str | None) -> Upload:
    """A new upload for `run`, or its unfinished one of the same kind and digest."""
    if size is not None and size > MAX_CHECKPOINT:
        raise TooLarge(f"checkpoint of {size} bytes is over the {MAX_CHECKPOINT >> 30} GiB limit", field="size")
    if sha256 is not None:
        same = session.scalar(
            select(Upload).where(
                Upload.run_id == run.id, Upload.kind == kind, Upload.sha256 == sha256, Upload.checkpoint_id.is_(None)
            )
        )
        if same is not None and same.size == size:
            return same
    upload = Upload(token=secrets.token_hex(16), model_id=run.model_id, run_id=run.id, kind=kind, filename=filename,
                    size=size, sha256=sha256, received=0)  # fmt: skip
    session.add(upload)
    session.flush()
    return upload


def find_upload(session: Session, token: str) -> Upload:
    upload = session.scalar(select(Upload).where(Upload.token == token))
    if upload is None:
        raise NotFound("upload not found: announce it again")
    return upload


def write_chunk(scratch: Path, upload: Upload, offset: int, chunks: Iterable[bytes]) -> None:
    """Append `chunks` at `offset` (which must equal `received`); checks size and digest at the end.

    A digest mismatch discards the data (the client sends the file again) and raises Invalid.
    """
    if offset != upload.received:
        raise OffsetMismatch(upload)
    path = scratch_file(scratch, upload)
    path.parent.mkdir(parents=True, exist_ok=True)
    limit = upload.size if upload.size is not None else MAX_CHECKPOINT
    with open(path, "r+b" if path.exists() else "wb") as f:
        f.seek(offset)
        f.truncate()
        received = offset
        for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise TooLarge(f"upload {upload.token} is longer than the announced {limit} bytes")
            f.write(chunk)
    upload.received = received
    if upload.size is not None and received == upload.size:
        digest = file_sha256(path)
        if upload.sha256 and digest != upload.sha256:
            path.unlink(missing_ok=True)
            upload.received = 0
            raise Invalid(f"upload {upload.token}: SHA-256 {digest} differs from the announced {upload.sha256}; "
                          "the file changed while it was sent: send it again", field="sha256")  # fmt: skip


def finish_raw_upload(scratch: Path, upload: Upload) -> None:
    """A whole-file PUT (Ultralytics' client): size and digest are what arrived."""
    path = scratch_file(scratch, upload)
    upload.size = upload.received
    upload.sha256 = file_sha256(path)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def commit_upload(
    session: Session, storage: Storage, scratch: Path, model: Model, upload: Upload, *, kind: str, epoch: int | None
) -> Checkpoint:
    """Store the finished upload as the model's `kind` checkpoint (replacing that kind's older one).

    Idempotent: an upload committed already returns its checkpoint row. The scratch file is removed; the
    replaced object is left for `delete_after_commit` (returned through session.info).
    """
    if upload.checkpoint_id is not None:
        row = session.get(Checkpoint, upload.checkpoint_id)
        if row is not None:
            return row
    if upload.size is None or upload.received != upload.size:
        raise Conflict(f"upload {upload.token} is not complete ({upload.received} of {upload.size} bytes)")
    path = scratch_file(scratch, upload)
    with open(path, "rb") as f:
        stored = storage.put_stream(f"models/{model.id}/checkpoints/{kind}-{uuid.uuid4().hex}.pt", f)
    if stored.sha256 != upload.sha256:
        raise Invalid(f"upload {upload.token} changed on the server's disk (SHA-256 mismatch): send it again")
    old = session.scalar(select(Checkpoint).where(Checkpoint.model_id == model.id, Checkpoint.kind == kind))
    if old is not None:
        session.info.setdefault("delete_objects", []).append(old.storage_key)
        session.delete(old)
        session.flush()
    row = Checkpoint(model_id=model.id, kind=kind, epoch=epoch, storage_key=stored.key, size=stored.size,
                     sha256=stored.sha256)  # fmt: skip
    session.add(row)
    session.flush()
    upload.checkpoint_id = row.id
    session.info.setdefault("delete_files", []).append(str(path))
    return row


def after_commit_cleanup(session: Session, storage: Storage) -> None:
    """Remove replaced objects and used scratch files once the transaction that replaced them committed."""
    for key in session.info.pop("delete_objects", []):
        storage.delete(key)
    for path in session.info.pop("delete_files", []):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
