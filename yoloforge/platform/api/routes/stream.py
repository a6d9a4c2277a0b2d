"""The native streaming protocol (yoloforge/remote/protocol.py): event batches, the heartbeat/command poll,
and chunked checkpoint uploads. The library's client is the caller; see the protocol module for the shapes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from yoloforge.platform.api.deps import CurrentUser, SessionDep, StateDep, needs
from yoloforge.platform.db import utcnow
from yoloforge.platform.services import ingest, ingest_uploads, stream_runs
from yoloforge.platform.services.principal import Principal
from yoloforge.platform.state import PlatformState
from yoloforge.remote.protocol import BatchReply, CommandReply, EventBatch, UploadStart, UploadState

router = APIRouter(prefix="/stream", tags=["stream"])
upload_router = APIRouter(prefix="/stream", tags=["stream"])

RunIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The client's run id (32 hex characters).")]
TokenPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="An upload's token.")]


@router.post("/runs/{run_id}/events", **needs("train"))
def post_events(
    run_id: RunIdPath, batch: EventBatch, principal: CurrentUser, session: SessionDep, state: StateDep
) -> BatchReply:
    """Store a batch of a run's events (each (run, seq) once; replays are acknowledged again, not stored twice).

    The first batch of a run must hold its `start` event. The reply's `command` is `stop` when the run should end.
    """
    sinks = ingest.Sinks(state.storage, state.scratch)
    for attempt in range(2):
        try:
            reply = ingest.ingest_batch(session, sinks, principal, run_id, batch)
            break
        except IntegrityError:  # the same batch arrived twice at once: the second pass sees the first one's rows
            session.rollback()
            session.info.clear()
            if attempt:
                raise
    ingest_uploads.after_commit_cleanup(session, state.storage)
    ingest.publish_after_commit(session, state.broadcaster)
    return reply


@router.post("/runs/{run_id}/heartbeat", **needs("train"))
def heartbeat(run_id: RunIdPath, principal: CurrentUser, session: SessionDep, state: StateDep) -> CommandReply:
    """The run is alive (a lost run runs again); the reply says whether it should stop. Clients call it every 2 s
    when they have nothing else to send."""
    run = stream_runs.find_run(session, principal, run_id)
    stream_runs.touch(session, run, run.model, utcnow())
    session.commit()
    ingest.publish_after_commit(session, state.broadcaster)
    return CommandReply(command=stream_runs.command(session, run))


@router.post("/runs/{run_id}/uploads", **needs("train"))
def start_upload(run_id: RunIdPath, body: UploadStart, principal: CurrentUser, session: SessionDep) -> UploadState:
    """Announce a checkpoint upload; an unfinished one of the same run, kind and SHA-256 continues."""
    run = stream_runs.find_run(session, principal, run_id)
    upload = ingest_uploads.begin_upload(session, run, body.kind, body.filename, body.size, body.sha256)
    session.commit()
    return _state(upload)


@router.get("/uploads/{token}", **needs("read"))
def get_upload(token: TokenPath, principal: CurrentUser, session: SessionDep) -> UploadState:
    """How many bytes of the upload the server holds."""
    return _state(_owned_upload(session, principal, token, write=False))


@upload_router.put("/uploads/{token}", **needs("train"))
async def put_chunk(
    request: Request,
    token: TokenPath,
    principal: CurrentUser,
    state: StateDep,
    offset: Annotated[int, Query(ge=0, le=1 << 40, description="Where this chunk starts (bytes).")] = 0,
) -> UploadState:
    """Write the request body (raw bytes) at `offset`; 409 (with the state) when the server holds another offset."""
    body = await request.body()
    return await run_in_threadpool(_write_chunk, state, principal, token, offset, body)


def _write_chunk(state: PlatformState, principal: Principal, token: str, offset: int, body: bytes) -> UploadState:
    with state.db.session() as session:
        upload = _owned_upload(session, principal, token, write=True)
        try:
            ingest_uploads.write_chunk(state.scratch, upload, offset, [body])
        except ingest_uploads.OffsetMismatch:
            raise
        except Exception:
            session.commit()  # keep `received` as the file now is (a digest mismatch resets it to 0)
            raise
        return _state(upload)


def _owned_upload(session, principal: Principal, token: str, *, write: bool):
    from yoloforge.platform.db import Run
    from yoloforge.platform.services.access import check_access

    upload = ingest_uploads.find_upload(session, token)
    run = session.get(Run, upload.run_id)
    check_access(principal, run.model.project if run else None, "upload", write=write)
    return upload


def _state(upload) -> UploadState:
    size = upload.size if upload.size is not None else upload.received
    return UploadState(token=upload.token, received=upload.received, size=size,
                       complete=upload.size is not None and upload.received == upload.size)  # fmt: skip
