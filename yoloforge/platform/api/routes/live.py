"""Live views of a model: every epoch's metrics, console lines, system samples, and the SSE event stream.

The SSE stream (`GET .../events`, text/event-stream) is written with Starlette's StreamingResponse: the
format is four lines per message, and the stream needs our own wake-up (services/events.py) and DB
re-reads anyway, which a helper library would not save. It is left out of the OpenAPI document (a schema
fuzzer cannot read an endless body); see docs in README's Platform section and contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from yoloforge.platform.api.deps import CurrentUser, SessionDep, StateDep, needs
from yoloforge.platform.api.params import ModelPath, OwnerPath, ProjectPath
from yoloforge.platform.schemas.common import PublicModel
from yoloforge.platform.schemas.models import MetricRowPublic
from yoloforge.platform.services import live, models
from yoloforge.platform.services.events import read_events, sse_message
from yoloforge.platform.state import PlatformState

router = APIRouter(prefix="/projects/{owner}/{project}/models/{name}", tags=["live"])

KEEPALIVE_SECONDS = 15.0
After = Annotated[int, Query(ge=0, le=2**62, description="Only what came after this event id.")]
Limit = Annotated[int, Query(ge=1, le=5000, description="At most this many events.")]


class MetricsOut(PublicModel):
    items: list[MetricRowPublic]


class ConsoleLine(PublicModel):
    event_id: int
    text: str


class ConsoleOut(PublicModel):
    lines: list[ConsoleLine]
    next: int = Field(description="Pass as `after` to get the lines that come later.")


class SystemSample(PublicModel):
    event_id: int
    time: float = Field(description="Unix seconds (the client's clock).")
    data: dict[str, Any]


class SystemOut(PublicModel):
    items: list[SystemSample]


@router.get("/metrics", **needs("read"))
def get_metrics(owner: OwnerPath, project: ProjectPath, name: ModelPath, principal: CurrentUser,
                session: SessionDep) -> MetricsOut:  # fmt: skip
    """Every epoch's metrics (results.csv columns, fitness, best_fitness), in epoch order."""
    model = models.find_model(session, principal, owner, project, name)
    return MetricsOut(items=[MetricRowPublic.model_validate(r) for r in live.metrics(session, model)])


@router.get("/console", **needs("read"))
def get_console(owner: OwnerPath, project: ProjectPath, name: ModelPath, principal: CurrentUser, session: SessionDep,
                after: After = 0, limit: Limit = 500) -> ConsoleOut:  # fmt: skip
    """Console lines after event `after`, oldest first; `next` continues."""
    model = models.find_model(session, principal, owner, project, name)
    lines, last = live.console(session, model, after, limit)
    return ConsoleOut(lines=[ConsoleLine(**line) for line in lines], next=last)


@router.get("/system", **needs("read"))
def get_system(owner: OwnerPath, project: ProjectPath, name: ModelPath, principal: CurrentUser, session: SessionDep,
               after: After = 0, limit: Limit = 500) -> SystemOut:  # fmt: skip
    """System samples (CPU, RAM, disk, GPUs) after event `after`, oldest first."""
    model = models.find_model(session, principal, owner, project, name)
    rows = live.system(session, model, after, limit)
    return SystemOut(items=[SystemSample(event_id=r.event_id, time=r.time, data=r.data) for r in rows])


@router.get("/events", include_in_schema=False, **needs("read"))
async def get_events(
    owner: OwnerPath,
    project: ProjectPath,
    name: ModelPath,
    principal: CurrentUser,
    session: SessionDep,
    state: StateDep,
    after: After = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Server-Sent Events: every event of the model after `Last-Event-ID` (or `?after=`), then each new one as it is
    stored. `id` is the model's event id, `event` the kind, `data` {run, seq, time, data}."""
    model = await run_in_threadpool(models.find_model, session, principal, owner, project, name)
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_stream(state, model.id, start), media_type="text/event-stream", headers=headers)


async def _stream(state: PlatformState, model_id: int, after: int) -> AsyncIterator[str]:
    wake = state.broadcaster.subscribe(model_id)
    poll = state.settings.sse_poll_seconds
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    try:
        yield "retry: 2000\n\n"
        while True:
            wake.clear()
            batch = await run_in_threadpool(_read, state, model_id, after)
            for text, event_id in batch:
                yield text
                after = event_id
            if batch:
                quiet_since = loop.time()
                continue
            try:
                await asyncio.wait_for(wake.wait(), timeout=poll)
            except TimeoutError:
                if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                    quiet_since = loop.time()
                    yield ": keep-alive\n\n"
    finally:
        state.broadcaster.unsubscribe(model_id, wake)


def _read(state: PlatformState, model_id: int, after: int) -> list[tuple[str, int]]:
    with state.db.sessions() as session:
        events = read_events(session, model_id, after, limit=500)
        keys = live.run_keys(session, {e.run_id for e in events if e.run_id})
        return [(sse_message(e, keys.get(e.run_id or 0)), e.event_id) for e in events]
