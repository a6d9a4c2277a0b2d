"""The native wire protocol between the streaming client and the platform server, version 1.

Both sides validate with these models (the server imports them; they import nothing of the server).
A client process is one *run* (a 32-hex `run_id` it makes itself); every event it sends has a
sequence number `seq` (1, 2, ... per run) and is stored once per (run, seq), so retries and replays
are harmless. Events travel in batches:

    POST /api/v1/stream/runs/{run_id}/events   EventBatch -> BatchReply
    GET  /api/v1/stream/runs/{run_id}/command  -> CommandReply (the 2 s poll; also the run's heartbeat)
    POST /api/v1/stream/runs/{run_id}/uploads  UploadStart -> UploadState (chunked checkpoint upload)
    PUT  /api/v1/stream/uploads/{token}?offset=N  raw bytes -> UploadState
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PROTOCOL = 1
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
KINDS = ("start", "epoch", "console", "system", "progress", "checkpoint", "end")
Kind = Literal["start", "epoch", "console", "system", "progress", "checkpoint", "end"]
END_STATUSES = ("completed", "failed", "stopped")
# Dropped first when the client's spool is full (most recent state is enough for a live view).
DROPPABLE = ("progress", "system")
MAX_BATCH = 500  # events in one request
CHUNK = 4 << 20  # bytes per upload request


def _example(value: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [value]})


class Event(BaseModel):
    """One event: `seq` orders and identifies it within its run; `time` is the client's clock (Unix seconds)."""

    model_config = _example({"seq": 1, "kind": "epoch", "time": 1764450000.0, "data": {"epoch": 0, "metrics": {}}})

    seq: int = Field(ge=1, le=2**62, description="1, 2, ... within the run.")
    kind: Kind
    time: float = Field(ge=0, le=1e11, description="When it happened, Unix seconds (client clock).")
    data: dict[str, Any] = Field(default_factory=dict)


class EventBatch(BaseModel):
    """Events of one run, in `seq` order; `project` (owner/name) and `model` say where the run belongs."""

    model_config = _example(
        {
            "protocol": 1,
            "project": "alice/detector",
            "model": "exp1",
            "events": [{"seq": 1, "kind": "start", "time": 1764450000.0, "data": {"settings": {"epochs": 3}}}],
        }
    )

    protocol: int = Field(PROTOCOL, ge=1, le=PROTOCOL, description="Protocol version.")
    project: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Model name in the project.")
    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("events")
    @classmethod
    def _ordered(cls, events: list[Event]) -> list[Event]:
        return sorted(events, key=lambda e: e.seq)


class BatchReply(BaseModel):
    """What the server stored (every seq of the batch: new or already there) and what the client should do."""

    model_config = ConfigDict(extra="ignore")

    acked: list[int]
    model_id: int
    model: str = Field(description="The model's name on the server (it may differ from the one asked for).")
    url: str = Field("", description="The model's page, relative to the server.")
    command: Literal["stop"] | None = None


class CommandReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    command: Literal["stop"] | None = None


class UploadStart(BaseModel):
    """Announce a checkpoint file: an unfinished upload of the same run, kind and sha256 is continued."""

    model_config = _example({"kind": "last", "filename": "last.pt", "size": 1024, "sha256": "0" * 64})

    kind: Literal["last", "best"]
    filename: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    size: int = Field(ge=1, le=1 << 40)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class UploadState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str
    received: int = Field(description="Bytes received so far; the next PUT starts at this offset.")
    size: int
    complete: bool


def check_run_id(run_id: str) -> str:
    """`run_id` if it is 32 lower-case hex characters; ValueError otherwise."""
    if not RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must be 32 lower-case hex characters")
    return run_id
