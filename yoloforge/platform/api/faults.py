"""Fault injection for drills and tests (`YOLOFORGE_SERVER_FAULT_RATE=0.3`): a share of the streaming requests
fail with HTTP 500, half of them before the request is handled (the request is lost) and half after it was
handled and committed (the reply is lost), which is what a flaky network or proxy does to a client. Off (0) by
default; installed only when the rate is above 0. Seeded by YOLOFORGE_SERVER_FAULT_SEED for repeatable drills.
"""

from __future__ import annotations

import json
import random

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIXES = ("/api/v1/stream/", "/api/webhooks/", "/api/compat/")
BODY = json.dumps({"detail": "injected fault (YOLOFORGE_SERVER_FAULT_RATE)"}).encode()


class FaultInjector:
    """ASGI middleware answering 500 to `rate` of the requests under PREFIXES."""

    def __init__(self, app: ASGIApp, rate: float, seed: int | None = None) -> None:
        self.app, self.rate, self.random = app, rate, random.Random(seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIXES) or self.random.random() >= self.rate:
            await self.app(scope, receive, send)
            return
        if self.random.random() < 0.5:  # lost on the way in
            await _fail(send)
            return

        async def swallow(message: Message) -> None:  # handled, then the reply is lost
            return None

        await self.app(scope, receive, swallow)
        await _fail(send)


async def _fail(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})
