"""Ultralytics' training webhooks: events, the upload URL, and the raw PUT of a checkpoint."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from yoloforge.platform.api.deps import SessionDep, StateDep
from yoloforge.platform.compat import runs
from yoloforge.platform.compat.auth import base_url, error_reply, principal_of
from yoloforge.platform.db import Run
from yoloforge.platform.services import ingest, ingest_uploads, stream_runs
from yoloforge.platform.services.errors import Invalid, NotFound, ServiceError
from yoloforge.platform.state import PlatformState

router = APIRouter(include_in_schema=False)

JsonBody = Annotated[dict[str, Any], Body()]


@router.post("/api/webhooks/training/metrics")
def training_event(request: Request, body: JsonBody, session: SessionDep, state: StateDep) -> JSONResponse:
    """One training event; the reply is a JSON object (`cancelled: true` asks the run to stop)."""
    event = body.get("event")
    sinks = ingest.Sinks(state.storage, state.scratch)
    try:
        principal = principal_of(request, session)
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        if event == "training_started":
            run, _ = runs.start_run(session, sinks, principal, body)
            model = run.model
        else:
            run, model = runs.current_run(session, principal, body.get("modelId"))
            runs.apply_event(session, sinks, run, model, str(event), data)
        session.commit()
    except ServiceError as e:
        session.rollback()
        return error_reply(e)
    ingest_uploads.after_commit_cleanup(session, state.storage)
    ingest.publish_after_commit(session, state.broadcaster)
    reply: dict[str, Any] = {"received": True, "event": event}
    if event == "training_started":
        project = model.project
        reply.update(mode="remote", modelId=runs.model_hex(model), runId=run.id, modelSlug=model.name,
                     modelUrl=f"{base_url(request)}/{project.owner.name}/{project.name}/{model.name}")  # fmt: skip
    if stream_runs.command(session, run) == "stop" or (run.stop_requested and event != "console_output"):
        reply["cancelled"] = True
    return JSONResponse(reply)


@router.post("/api/webhooks/models/upload")
def upload_url(request: Request, body: JsonBody, session: SessionDep) -> JSONResponse:
    """A one-time upload URL for a checkpoint file of the model's current run."""
    try:
        principal = principal_of(request, session)
        run, model = runs.current_run(session, principal, body.get("modelId"))
        if isinstance(body.get("runId"), int):
            chosen = session.get(Run, body["runId"])
            if chosen is None or chosen.model_id != model.id:
                raise NotFound(f"run {body['runId']} not found for model {body.get('modelId')}")
            run = chosen
        filename = str(body.get("filename") or "")
        if not filename or "/" in filename or len(filename) > 128:
            raise Invalid("filename must be a plain file name such as best.pt", field="filename")
        kind = "best" if filename.startswith("best") else "last"
        upload = ingest_uploads.begin_upload(session, run, kind, filename, None, None)
        session.commit()
    except ServiceError as e:
        session.rollback()
        return error_reply(e)
    key = f"models/{model.id}/uploads/{upload.token}/{filename}"
    return JSONResponse({"uploadUrl": f"{base_url(request)}/api/compat/uploads/{upload.token}/{filename}",
                         "gcsPath": f"yf://{key}", "uploadPath": key, "modelId": runs.model_hex(model)})  # fmt: skip


@router.put("/api/compat/uploads/{token}/{filename}")
async def put_upload(
    request: Request,
    state: StateDep,
    token: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
    filename: Annotated[str, Path(max_length=128)],
) -> JSONResponse:
    """The checkpoint's bytes (no Authorization: the token in the URL is the credential). A retry starts over."""
    upload = await run_in_threadpool(_find, state, token, filename)
    if isinstance(upload, JSONResponse):
        return upload
    path = ingest_uploads.scratch_file(state.scratch, upload)
    path.parent.mkdir(parents=True, exist_ok=True)
    received = 0
    with open(path, "wb") as f:
        async for chunk in request.stream():
            received += len(chunk)
            if received > ingest_uploads.MAX_CHECKPOINT:
                return JSONResponse({"detail": "checkpoint too large"}, status_code=413)
            f.write(chunk)
    return await run_in_threadpool(_finish, state, token, received)


def _find(state: PlatformState, token: str, filename: str) -> Any:
    with state.db.sessions() as session:
        try:
            upload = ingest_uploads.find_upload(session, token)
        except NotFound as e:
            return JSONResponse({"detail": e.message}, status_code=404)
        if upload.filename != filename or upload.checkpoint_id is not None:
            return JSONResponse({"detail": "upload URL not valid (used already, or for another file)"}, status_code=404)
        session.expunge(upload)
        return upload


def _finish(state: PlatformState, token: str, received: int) -> JSONResponse:
    with state.db.session() as session:
        upload = ingest_uploads.find_upload(session, token)
        upload.received = received
        ingest_uploads.finish_raw_upload(state.scratch, upload)
        return JSONResponse({"size": upload.size, "sha256": upload.sha256})
