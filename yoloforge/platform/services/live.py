"""Reads behind the live views of a model: every epoch's metrics, console lines, system samples, the event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yoloforge.platform.db import MetricRow, Model, ModelEvent, Run
from yoloforge.platform.services.events import read_events


def metrics(session: Session, model: Model) -> list[MetricRow]:
    """Every epoch's metric row, in epoch order."""
    return list(session.scalars(select(MetricRow).where(MetricRow.model_id == model.id).order_by(MetricRow.epoch)))


def console(session: Session, model: Model, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Console lines ({event_id, text}) of at most `limit` console events after event `after`, and the id to pass as
    `after` next time. Within a page, lines of Ultralytics runs are put in chunk order (their chunks can arrive
    out of order); native lines are in sequence order already."""
    events = read_events(session, model.id, after, kinds=("console",), limit=max(1, limit))
    lines: list[dict[str, Any]] = []
    last = after
    for ev in sorted(events, key=lambda e: (e.run_id or 0, e.data.get("chunk_id", e.seq), e.event_id)):
        for text in ev.data.get("lines", []):
            lines.append({"event_id": ev.event_id, "text": str(text)})
    if events:
        last = max(e.event_id for e in events)
    return lines, last


def system(session: Session, model: Model, after: int, limit: int) -> list[ModelEvent]:
    return read_events(session, model.id, after, kinds=("system",), limit=limit)


def run_keys(session: Session, run_ids: set[int]) -> dict[int, str]:
    if not run_ids:
        return {}
    return {rid: key for rid, key in session.execute(select(Run.id, Run.key).where(Run.id.in_(run_ids)))}
