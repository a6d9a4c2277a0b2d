"""Ultralytics training events mapped onto the streaming services (services/ingest.py, services/stream_runs.py).

An Ultralytics run is a model with source `remote`; each `training_started` opens a Run (protocol
`ultralytics`, a made-up key). Events carry only the model id, so they go to the model's newest
Ultralytics run. Each event gets a seq that identifies it within the run, so retries are stored once:

    training_started 1, training_complete 2, epoch_end 1000 + epoch (its system sample 5_000_000 + epoch),
    checkpoint_saved 10^10 + the upload's id, console_output its chunkId (a millisecond clock, > 10^12).

The last `epoch_end` (epoch = epochs trained, without `val/` losses) is the final validation of best.pt:
it is logged as `final`, not stored as an epoch. `cancelled: true` in a reply is the run's stop command.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yoloforge.platform.db import Model, Run, utcnow
from yoloforge.platform.services import ingest, ingest_uploads, stream_runs
from yoloforge.platform.services.access import check_access
from yoloforge.platform.services.errors import Invalid, NotFound
from yoloforge.platform.services.principal import Principal

SEQ_START, SEQ_COMPLETE, SEQ_EPOCH, SEQ_SYSTEM, SEQ_CHECKPOINT = 1, 2, 1000, 5_000_000, 10**10
RETRY_WINDOW = dt.timedelta(minutes=10)


def model_hex(model: Model) -> str:
    """Ultralytics' model ids are 24 hex characters: ours, zero-padded."""
    return f"{model.id:024x}"


def parse_model_id(value: Any) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{1,24}", value) or int(value, 16) >= 2**31:
        raise NotFound(f"model {value!r} not found")
    return int(value, 16)


def slug(text: str) -> str:
    """Ultralytics' project/name slug: lower case, only a-z 0-9 space -, spaces to -, no repeated or edge -."""
    s = re.sub(r"[^a-z0-9 -]", "", text.lower()).replace(" ", "-")
    return re.sub(r"-{2,}", "-", s).strip("-")[:64] or "train"


def start_run(session: Session, sinks: ingest.Sinks, principal: Principal, body: dict[str, Any]) -> tuple[Run, bool]:
    """Open a run for `training_started` (a retried identical start gets the same run); (run, is it new)."""
    digest = ingest.start_hash(body)
    since = utcnow() - RETRY_WINDOW
    same = session.scalar(select(Run).where(Run.start_hash == digest, Run.started_at >= since))
    if same is not None:
        stream_runs.owned_run(session, principal, same)
        return same, False
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    if body.get("modelId") is not None:
        model = session.get(Model, parse_model_id(body["modelId"]))
        if model is None:
            raise NotFound(f"model {body['modelId']} not found")
        check_access(principal, model.project, f"model {body['modelId']}", write=True)
    else:
        owner, project_slug = _project(principal, body.get("project"))
        project = stream_runs.project_for(session, principal, owner, project_slug)
        model = stream_runs.model_for_start(session, principal, project, slug(str(body.get("name") or "train")), None,
                                            source="remote")  # fmt: skip
    run = stream_runs.new_run(session, model, secrets.token_hex(16), "ultralytics", digest)
    args = data.get("trainArgs") if isinstance(data.get("trainArgs"), dict) else {}
    start = {"settings": args, "environment": data.get("environment"), "system": data.get("system"),
             "epochs": data.get("epochs"), "client": "ultralytics"}  # fmt: skip
    rows = [(SEQ_START, "start", time.time(), start)]
    if isinstance(data.get("system"), dict):
        rows.append((SEQ_SYSTEM - 1, "system", time.time(), data["system"]))
    ingest.apply_events(session, sinks, run, model, rows)
    return run, True


def _project(principal: Principal, value: Any) -> tuple[str, str]:
    text = str(value or "").strip()
    if "/" in text:
        owner, rest = text.split("/", 1)
        return owner, slug(rest.replace("/", "-"))
    return principal.user.name, slug(text or "default")


def current_run(session: Session, principal: Principal, model_id: Any) -> tuple[Run, Model]:
    """The model's newest Ultralytics run, if the caller may write to the model; NotFound otherwise."""
    model = session.get(Model, parse_model_id(model_id))
    if model is None:
        raise NotFound(f"model {model_id} not found")
    check_access(principal, model.project, f"model {model_id}", write=True)
    run = session.scalar(select(Run).where(Run.model_id == model.id).order_by(Run.id.desc()).limit(1))
    if run is None:
        raise NotFound(f"model {model_id} has no run: send training_started first")
    return run, model


def apply_event(session: Session, sinks: ingest.Sinks, run: Run, model: Model, event: str, data: dict) -> None:
    """Map one Ultralytics event onto native ones and apply them."""
    now = time.time()
    if event == "console_output":
        chunk = data.get("chunkId")
        if not isinstance(chunk, int):
            raise Invalid("console_output: data.chunkId must be an integer", field="chunkId")
        lines = [ln for ln in str(data.get("content") or "").split("\n") if ln.strip()]
        rows = [(chunk, "console", now, {"chunk_id": chunk, "lines": lines, "progress": data.get("progress") or {}})]
    elif event == "epoch_end":
        rows = _epoch_rows(data, now)
    elif event == "checkpoint_saved":
        upload = _upload_of(session, run, data)
        kind = "best" if upload.filename.startswith("best") else "last"  # committed by ingest's checkpoint effect
        rows = [(SEQ_CHECKPOINT + upload.id, "checkpoint", now, {"upload": upload.token, "kind": kind,
                 "size": upload.size, "sha256": upload.sha256, "client": "ultralytics"})]  # fmt: skip
    elif event == "training_complete":
        results = data.get("results") if isinstance(data.get("results"), dict) else {}
        status = "stopped" if run.stop_requested else "completed"
        end = {"status": status, "final_metrics": results.get("metrics") or {}, "best_epoch": results.get("bestEpoch"),
               "best_fitness": results.get("bestFitness"), "validation": results.get("validation"),
               "names": data.get("classNames"), "plots": data.get("plots") or []}  # fmt: skip
        rows = [(SEQ_COMPLETE, "end", now, end)]
    else:
        raise Invalid(f"unknown event {event!r}", field="event")
    ingest.apply_events(session, sinks, run, model, rows)


def _epoch_rows(data: dict, now: float) -> list[tuple[int, str, float, dict]]:
    epoch, metrics = data.get("epoch"), data.get("metrics")
    if not isinstance(epoch, int) or epoch < 0 or not isinstance(metrics, dict):
        raise Invalid("epoch_end: data needs epoch (int >= 0) and metrics (object)", field="data")
    rows: list[tuple[int, str, float, dict]] = []
    if isinstance(data.get("system"), dict):
        rows.append((SEQ_SYSTEM + epoch, "system", now, data["system"]))
    values = {**metrics, "fitness": data.get("fitness"), "best_fitness": data.get("best_fitness")}
    if not any(k.startswith("val/") for k in metrics) and epoch > 0:
        rows.append((SEQ_EPOCH + epoch, "final", now, {"epoch": epoch, "metrics": values}))
    else:
        rows.append((SEQ_EPOCH + epoch, "epoch", now, {"epoch": epoch, "metrics": values,
                                                      "model_info": data.get("modelInfo")}))  # fmt: skip
    return rows


def _upload_of(session: Session, run: Run, data: dict) -> Any:
    path = str(data.get("uploadPath") or data.get("modelPath") or "")
    m = re.search(r"/uploads/([0-9a-f]{32})/", path)
    if m is None:
        raise Invalid("checkpoint_saved: modelPath is not one this server handed out", field="modelPath")
    upload = ingest_uploads.find_upload(session, m.group(1))
    if upload.model_id != run.model_id:
        raise NotFound("upload not found")
    return upload
