"""Exports of a model's checkpoint to onnx, torchscript or openvino, run by the library's exporter as a small job
on a CPU slot of this server, stored with their sha256 and downloadable.

The scheduler loop calls `ExportRunner.tick()`: it starts queued exports while fewer than `slots` run
(`python -m yoloforge export model=<checkpoint> format=<format> imgsz=<the model's>` in the export's folder),
and stores each finished file (an OpenVINO folder as one zip). An export that was running when the server
stopped is queued again on the next start.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yoloforge.platform.db import Export, Model, utcnow
from yoloforge.platform.services.errors import Invalid, NotFound
from yoloforge.platform.services.models import find_checkpoint
from yoloforge.utils.log import LOGGER

FORMATS = ("onnx", "torchscript", "openvino")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript", "openvino": "_openvino_model"}


def create(session: Session, model: Model, fmt: str, checkpoint: str) -> Export:
    """Queue an export of `model`'s `checkpoint` (best, last, final...) to `fmt`. Commits."""
    if fmt not in FORMATS:
        raise Invalid(f"format: {fmt!r} is not one of {', '.join(FORMATS)}", field="format")
    find_checkpoint(model, checkpoint)  # NotFound names the checkpoints it has
    row = Export(model_id=model.id, format=fmt, checkpoint=checkpoint, status="queued")
    session.add(row)
    session.commit()
    return row


def find(session: Session, model: Model, export_id: int) -> Export:
    row = session.get(Export, export_id)
    if row is None or row.model_id != model.id:
        raise NotFound(f"export {export_id} of model {model.name!r} not found")
    return row


class ExportRunner:
    """Runs exports as subprocesses, `slots` at a time (kept by the scheduler loop)."""

    def __init__(self, state: Any, slots: int = 1) -> None:
        self.state, self.slots = state, slots
        self.running: dict[int, subprocess.Popen] = {}
        self._requeued = False

    def folder(self, export_id: int) -> Path:
        return self.state.settings.jobs_dir / "exports" / str(export_id)

    def tick(self) -> None:
        """Store finished exports, then start queued ones while a slot is free."""
        with self.state.db.sessions() as session:
            if not self._requeued:  # running in a previous server process: start again
                for row in session.scalars(select(Export).where(Export.status == "running")):
                    row.status = "queued"
                session.commit()
                self._requeued = True
            for export_id, proc in list(self.running.items()):
                if proc.poll() is not None:
                    del self.running[export_id]
                    self._finish(session, session.get(Export, export_id), proc.returncode)
            while len(self.running) < self.slots:
                row = session.scalar(select(Export).where(Export.status == "queued").order_by(Export.id).limit(1))
                if row is None:
                    break
                self._start(session, row)

    def _start(self, session: Session, row: Export) -> None:
        model = session.get(Model, row.model_id)
        folder = self.folder(row.id)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        ckpt = find_checkpoint(model, row.checkpoint)
        weights = folder / f"{model.name}-{row.checkpoint}.pt"
        self.state.storage.get_file(ckpt.storage_key, weights)
        imgsz = model.settings.get("imgsz", 640)
        cmd = [sys.executable, "-m", "yoloforge", "export", f"model={weights}", f"format={row.format}",
               f"imgsz={imgsz}", "device=cpu"]  # fmt: skip
        with open(folder / "export.log", "wb") as log:
            self.running[row.id] = subprocess.Popen(cmd, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                                                    stdin=subprocess.DEVNULL)  # fmt: skip
        row.status = "running"
        session.commit()

    def _finish(self, session: Session, row: Export | None, code: int) -> None:
        if row is None:
            return
        folder = self.folder(row.id)
        model = session.get(Model, row.model_id)
        out = folder / f"{model.name}-{row.checkpoint}{SUFFIX[row.format]}" if model else folder / "missing"
        if code != 0 or not out.exists():
            lines = (folder / "export.log").read_text(errors="replace").strip().splitlines() or ["no output"]
            row.status, row.error = "failed", f"exit code {code}: {lines[-1][:500]}"
        else:
            if out.is_dir():  # an OpenVINO model is a folder: stored as one zip
                out = Path(shutil.make_archive(str(out), "zip", out.parent, out.name))
            stored = self.state.storage.put_file(f"models/{row.model_id}/exports/{row.id}/{out.name}", out)
            row.storage_key, row.size, row.sha256, row.filename = stored.key, stored.size, stored.sha256, out.name
            row.status = "completed"
            shutil.rmtree(folder, ignore_errors=True)
        row.finished_at = utcnow()
        session.commit()
        LOGGER.info("export %d (%s) %s", row.id, row.format, row.status)
