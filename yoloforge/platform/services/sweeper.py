"""The app's background task that turns silent streaming runs into `lost` ones (services/stream_runs.mark_lost)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool

from yoloforge.utils.log import LOGGER


async def lost_run_sweeper(state: Any) -> None:
    """Every third of `lost_after_seconds` (at most 30 s, at least 0.5 s), mark silent runs lost; forever."""
    from yoloforge.platform.services.stream_runs import mark_lost

    after = state.settings.lost_after_seconds
    period = min(max(after / 3, 0.5), 30.0)

    def sweep() -> list[int]:
        with state.db.sessions() as session:
            return mark_lost(session, after)

    while True:
        await asyncio.sleep(period)
        try:
            changed = await run_in_threadpool(sweep)
        except Exception:  # a database hiccup: try again next period
            LOGGER.exception("lost-run sweep failed")
            continue
        if changed:
            state.broadcaster.publish(changed)
