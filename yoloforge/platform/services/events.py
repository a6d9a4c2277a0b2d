"""The per-model event log behind the live views, and the in-process broadcaster that wakes SSE subscribers.

Every stored event gets the model's next `event_id` (1, 2, 3 ...) from one `UPDATE models SET last_event_id =
last_event_id + n ... RETURNING`, which also locks the model's row until the transaction ends, so a model's
events are committed in id order and a subscriber that has seen id N never misses a smaller one later.

Delivery: ingestion hands the new events' SSE messages to `Broadcaster.publish` after its commit; subscribers
of that model in this process get them at once, without reading the database. A subscriber that sees a gap
in the ids (events stored by another server process, or two commits published out of order) reads the log
from where it is. Several server processes (uvicorn --workers N) do not share the broadcaster: each SSE
stream also re-reads the log every `sse_poll_seconds`, so events of another process arrive within that delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from yoloforge.platform.db import Model, ModelEvent, utcnow

_models, _log = Model.__table__, ModelEvent.__table__
_NEXT_IDS = (
    update(_models)
    .where(_models.c.id == bindparam("model_id"))
    .values(last_event_id=func.coalesce(_models.c.last_event_id, 0) + bindparam("n", type_=Integer))
    .returning(_models.c.last_event_id)
)
_APPEND = insert(_log)


def append_events(
    session: Session,
    model_id: int,
    run_id: int | None,
    events: list[tuple[int, str, float, dict]],
    run_key: str | None = None,
) -> int:
    """Append (seq, kind, time, data) events to the model's log in this order; returns the last event id.

    Their SSE messages wait in `session.info["publish"]` for `Broadcaster.publish` after the commit."""
    if not events:
        return 0
    n = len(events)
    # Core statements, built once, on the session's connection: the ORM's bulk UPDATE/INSERT machinery and building
    # the statements cost more than running them on this path (every streamed batch). The session's pending
    # changes are flushed first, so the transaction writes in the same order as before.
    session.flush()
    connection = session.connection()
    last = connection.execute(_NEXT_IDS, {"model_id": model_id, "n": n}).scalar_one()
    now, first = utcnow(), last - n + 1
    rows = [{"model_id": model_id, "run_id": run_id, "seq": seq, "event_id": first + i, "kind": kind, "time": t,
             "data": data, "created_at": now} for i, (seq, kind, t, data) in enumerate(events)]  # fmt: skip
    connection.execute(_APPEND, rows)
    pending = session.info.setdefault("publish", {}).setdefault(model_id, [])
    for i, (seq, kind, t, data) in enumerate(events):
        payload = {"run": run_key, "seq": seq, "time": t, "data": data}
        pending.append((first + i, _message(first + i, kind, payload)))
    return last


def read_events(
    session: Session, model_id: int, after: int, *, kinds: Iterable[str] | None = None, limit: int = 500
) -> list[ModelEvent]:
    """The model's events with id > `after` (of `kinds` when given), oldest first, at most `limit`."""
    q = select(ModelEvent).where(ModelEvent.model_id == model_id, ModelEvent.event_id > after)
    if kinds is not None:
        q = q.where(ModelEvent.kind.in_(list(kinds)))
    return list(session.scalars(q.order_by(ModelEvent.event_id).limit(limit)))


def sse_message(event: ModelEvent, run_key: str | None) -> str:
    """One SSE message: `id` (the model's event id), `event` (the kind), `data` (one line of JSON)."""
    payload = {"run": run_key, "seq": event.seq, "time": event.time, "data": event.data}
    return _message(event.event_id, event.kind, payload)


def _message(event_id: int, kind: str, payload: dict[str, Any]) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(payload, separators=(',', ':'), default=str)}\n\n"


class Broadcaster:
    """Model id -> the queues of its SSE subscribers in this process; `publish` (thread-safe) hands each subscriber
    the new events' SSE messages, so a live stream needs no database read per event."""

    def __init__(self) -> None:
        self._subs: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]]] = {}
        self._lock = threading.Lock()

    def subscribe(self, model_id: int) -> asyncio.Queue:
        """A queue receiving lists of (event id, SSE message) of `model_id` (call from the subscriber's loop)."""
        queue: asyncio.Queue = asyncio.Queue()
        with self._lock:
            self._subs.setdefault(model_id, set()).add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, model_id: int, queue: asyncio.Queue) -> None:
        with self._lock:
            subs = self._subs.get(model_id, set())
            for item in [s for s in subs if s[1] is queue]:
                subs.discard(item)
            if not subs:
                self._subs.pop(model_id, None)

    def publish(self, messages: dict[int, list[tuple[int, str]]]) -> None:
        """Give each subscriber of a model its new (event id, message) pairs (from any thread)."""
        with self._lock:
            targets = [(s, messages[m]) for m in messages for s in self._subs.get(m, ())]
        for (loop, queue), items in targets:
            with contextlib.suppress(RuntimeError):  # that loop is closed: its subscriber is gone
                loop.call_soon_threadsafe(queue.put_nowait, items)

    def subscribers(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())
