"""The per-model event log behind the live views, and the in-process broadcaster that wakes SSE subscribers.

Every stored event gets the model's next `event_id` (1, 2, 3 ...) from one `UPDATE models SET last_event_id =
last_event_id + n ... RETURNING`, which also locks the model's row until the transaction ends, so a model's
events are committed in id order and a subscriber that has seen id N never misses a smaller one later.

Waking: ingestion calls `Broadcaster.publish(model_id)` after its commit; subscribers of that model in this
process wake at once. Several server processes (uvicorn --workers N) do not share the broadcaster: each SSE
stream also re-reads the log every `poll_seconds` (default 1 s), so events ingested by another process arrive
within that delay. One process (the default `yoloforge server`) gets them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterable

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from yoloforge.platform.db import Model, ModelEvent, utcnow


def append_events(
    session: Session, model_id: int, run_id: int | None, events: list[tuple[int, str, float, dict]]
) -> int:
    """Append (seq, kind, time, data) events to the model's log in this order; returns the last event id."""
    if not events:
        return 0
    n = len(events)
    stmt = (
        update(Model)
        .where(Model.id == model_id)
        .values(last_event_id=func.coalesce(Model.last_event_id, 0) + n)
        .returning(Model.last_event_id)
    )
    last = session.execute(stmt, execution_options={"synchronize_session": False}).scalar_one()
    now, first = utcnow(), last - n + 1
    rows = [{"model_id": model_id, "run_id": run_id, "seq": seq, "event_id": first + i, "kind": kind, "time": t,
             "data": data, "created_at": now} for i, (seq, kind, t, data) in enumerate(events)]  # fmt: skip
    session.execute(insert(ModelEvent), rows)
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
    return f"id: {event.event_id}\nevent: {event.kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"


class Broadcaster:
    """Model id -> the asyncio events of its subscribers in this process; thread-safe `publish`."""

    def __init__(self) -> None:
        self._subs: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()

    def subscribe(self, model_id: int) -> asyncio.Event:
        """An event set whenever `model_id` gets new log entries (call from the subscriber's event loop)."""
        wake = asyncio.Event()
        with self._lock:
            self._subs.setdefault(model_id, set()).add((asyncio.get_running_loop(), wake))
        return wake

    def unsubscribe(self, model_id: int, wake: asyncio.Event) -> None:
        with self._lock:
            subs = self._subs.get(model_id, set())
            for item in [s for s in subs if s[1] is wake]:
                subs.discard(item)
            if not subs:
                self._subs.pop(model_id, None)

    def publish(self, model_ids: Iterable[int]) -> None:
        """Wake the subscribers of `model_ids` (from any thread)."""
        with self._lock:
            targets = [s for m in set(model_ids) for s in self._subs.get(m, ())]
        for loop, wake in targets:
            with contextlib.suppress(RuntimeError):  # that loop is closed: its subscriber is gone
                loop.call_soon_threadsafe(wake.set)

    def subscribers(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())
