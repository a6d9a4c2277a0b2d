"""The sender: a background thread that empties the spool into the server, in order, in batches.

The training thread only writes events to the spool (`Spool.put`) and wakes this thread; it never waits
on the network. This thread sends up to `MAX_BATCH` events per request, uploads a checkpoint before the
event that announces it, deletes what the server acknowledged, and retries failures with exponential
backoff (0.5 s doubling to 10 s). Every `poll_seconds` without other traffic it asks for a command (the
run's heartbeat too). A reply's `stop` is handed to `on_command` once. It also takes the console lines
every `console_seconds` and a system sample every `system_seconds` (both into the spool first).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from yoloforge.remote.console import ConsoleCapture
from yoloforge.remote.protocol import MAX_BATCH, PROTOCOL, BatchReply, CommandReply
from yoloforge.remote.spool import Spool, Spooled
from yoloforge.remote.system import SystemSampler
from yoloforge.utils.log import LOGGER

if TYPE_CHECKING:
    import httpx

RETRYABLE = {408, 409, 425, 429}
MAX_BACKOFF = 10.0


class Disabled(Exception):
    """The server refused the key: nothing more is sent by this process (the spool keeps the events)."""


class StreamClient:
    """Sends one spool to the server at `url` with API key `key` (see the module docstring)."""

    def __init__(self, url: str, key: str, spool: Spool, *, on_command: Callable[[str], None],
                 console: ConsoleCapture | None = None, sampler: SystemSampler | None = None,
                 poll_seconds: float = 2.0, console_seconds: float = 2.0, system_seconds: float = 10.0,
                 timeout: float = 10.0) -> None:  # fmt: skip
        self.url, self.spool = url.rstrip("/"), spool
        self.http: Any = None  # made on the sender thread: importing httpx and its TLS setup take ~0.5 s
        self._headers, self._timeout = {"Authorization": f"Bearer {key}"}, timeout
        self.on_command, self.console, self.sampler = on_command, console, sampler
        self.poll_seconds, self.console_seconds, self.system_seconds = poll_seconds, console_seconds, system_seconds
        self.model_id: int | None = None
        self.model_name: str | None = None
        self.model_url = ""
        self.failures = 0  # failed requests in a row
        self.failed_total = 0
        self.commanded: str | None = None
        self.disabled = False
        self._wake = threading.Event()
        self._closing = False
        self._deadline = 0.0
        self._thread = threading.Thread(target=self._run, name="yoloforge-platform", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """New events are in the spool: send soon."""
        self._wake.set()

    def close(self, timeout: float) -> bool:
        """Send what is left for up to `timeout` s, then stop the thread; True when the spool was emptied."""
        self._deadline = time.monotonic() + timeout
        self._closing = True
        self._wake.set()
        self._thread.join(timeout + 5)
        if self.http is not None:
            self.http.close()
        return not self.disabled and self.spool.waiting() == 0

    # --- the thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        import httpx

        self.http = httpx.Client(headers=self._headers, timeout=self._timeout)
        next_console = next_system = last_contact = time.monotonic()
        while True:
            now = time.monotonic()
            if self.console is not None and (now >= next_console or self._closing):
                if lines := self.console.drain():
                    self.spool.put("console", {"lines": lines})
                next_console = now + self.console_seconds
            if self.sampler is not None and now >= next_system:
                self.spool.put("system", self.sampler.sample())
                next_system = now + self.system_seconds
            busy, wait = False, self.poll_seconds
            if not self.disabled:
                try:
                    busy = self._send_once()
                    if not busy and time.monotonic() - last_contact >= self.poll_seconds:
                        self._poll()
                    if busy or time.monotonic() - last_contact >= self.poll_seconds:
                        last_contact = time.monotonic()
                    self._recovered()
                except Disabled:
                    self.disabled = True
                except (httpx.HTTPError, _Retry) as e:
                    wait = self._failed(e)
            if self._closing and (self.disabled or time.monotonic() >= self._deadline or
                                  (not busy and self.failures == 0 and self.spool.waiting() == 0)):  # fmt: skip
                return
            if not busy:
                self._wake.wait(min(wait, max(0.0, self._deadline - time.monotonic())) if self._closing else wait)
                self._wake.clear()

    def _send_once(self) -> bool:
        """Send the next batch of the oldest run with waiting events; False when there is none."""
        run_id, meta, items = self.spool.pending(MAX_BATCH)
        if not items:
            return False
        events = []
        for item in items:
            event = item.load()
            if item.kind == "checkpoint" and "upload" not in event["data"]:
                if events:
                    break  # send what precedes it first: the upload may take a while
                if not self._upload(run_id, item, event):
                    continue
            events.append(event)
        items = items[: len(events)] if events else items[:1]
        if not events:
            self.spool.ack(items)
            return True
        body = {"protocol": PROTOCOL, "project": meta["project"], "model": meta["model"], "events": events}
        r = self.http.post(f"{self.url}/api/v1/stream/runs/{run_id}/events", json=body)
        self._check(r, items)
        reply = BatchReply.model_validate(r.json())
        acked = set(reply.acked)
        self.spool.ack([i for i in items if i.seq in acked])
        for item, event in zip(items, events, strict=True):
            if item.kind == "checkpoint" and item.seq in acked:
                (self.spool.blobs / event["data"]["blob"]).unlink(missing_ok=True)
        if run_id == self.spool.run_id:
            self.model_id, self.model_name, self.model_url = reply.model_id, reply.model, reply.url
        self._command(reply.command)
        return True

    def _upload(self, run_id: str, item: Spooled, event: dict[str, Any]) -> bool:
        """Upload the checkpoint `event` announces and write its token into the spooled event; False when its file
        is gone (the event is then dropped with a warning)."""
        blob = self.spool.blobs / event["data"]["blob"]
        if not blob.exists():
            LOGGER.warning("platform: checkpoint %s is no longer in %s; it is not uploaded", blob.name, blob.parent)
            self.spool.reject([item])
            return False
        from yoloforge.remote.uploads import file_digest, upload_checkpoint

        size, sha256 = file_digest(blob)
        state = upload_checkpoint(self.http, self.url, run_id, blob, event["data"]["kind"], size=size, sha256=sha256)
        event["data"].update(upload=state.token, size=size, sha256=sha256)
        self.spool.rewrite(item, event)
        return True

    def _poll(self) -> None:
        r = self.http.get(f"{self.url}/api/v1/stream/runs/{self.spool.run_id}/command")
        if r.status_code == 404:  # the run's start has not arrived yet
            return
        self._check(r, [])
        self._command(CommandReply.model_validate(r.json()).command)

    def _command(self, command: str | None) -> None:
        if command and self.commanded is None:
            self.commanded = command
            LOGGER.info("platform: the server asked this run to %s", command)
            self.on_command(command)

    def _check(self, r: httpx.Response, items: list[Spooled]) -> None:
        """Raise _Retry for answers worth retrying, Disabled for a refused key; set invalid events aside."""
        if r.status_code < 400:
            return
        detail = _detail(r)
        if r.status_code >= 500 or r.status_code in RETRYABLE:
            raise _Retry(f"HTTP {r.status_code}: {detail}")
        if r.status_code in (401, 403, 404):
            LOGGER.warning("platform: %s refused this run (HTTP %d: %s); it is no longer streamed, its events stay in "
                           "%s", self.url, r.status_code, detail, self.spool.root)  # fmt: skip
            raise Disabled(detail)
        LOGGER.warning("platform: the server refused %d event(s) (HTTP %d: %s); they are kept in %s",
                       len(items), r.status_code, detail, self.spool.root / "rejected")  # fmt: skip
        self.spool.reject(items)
        raise _Retry(detail) if not items else _Rejected()

    def _failed(self, e: Exception) -> float:
        if isinstance(e, _Rejected):
            return 0.0
        self.failures += 1
        self.failed_total += 1
        if self.failures == 1:
            LOGGER.warning("platform: %s did not answer (%s); training goes on, events wait in %s and are sent when "
                           "it answers", self.url, e or type(e).__name__, self.spool.root)  # fmt: skip
        # while closing, retry at least every 2 s: what is left must go out before the process ends
        return min(0.5 * 2 ** (self.failures - 1), 2.0 if self._closing else MAX_BACKOFF)

    def _recovered(self) -> None:
        if self.failures:
            LOGGER.info("platform: %s answers again after %d failed request(s)", self.url, self.failures)
            self.failures = 0


class _Retry(Exception):
    pass


class _Rejected(_Retry):
    def __str__(self) -> str:
        return "rejected"


def _detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except Exception:
        detail = None
    return str(detail or r.reason_phrase or r.status_code)[:300]
