"""Body-size refusals in the API's error shape.

FastAPI enforces the limits (1 MiB for JSON, the upload limit for POST /datasets) and Starlette answers
413 with a plain-text body; this middleware rewrites that answer into `{"detail": ...}` saying the limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class JsonTooLarge:
    """Rewrite Starlette's plain-text 413 into the JSON error shape."""

    def __init__(self, app: ASGIApp, upload_mb: int, json_mb: int = 1) -> None:
        self.app = app
        self.body = json.dumps(
            {"detail": f"request body too large: uploads may be {upload_mb} MiB, other requests {json_mb} MiB"}
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting = False

        async def send_json(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 413:
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(b"text/plain"):
                    rewriting = True
                    length = b"%d" % len(self.body)
                    headers = [(b"content-type", b"application/json"), (b"content-length", length)]
                    message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and rewriting:
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": self.body}
            await send(message)

        await self.app(scope, receive, send_json)
