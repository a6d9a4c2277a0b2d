"""The on-disk spool: every event is written here (atomically) before it is sent, and deleted once the
server acknowledged it, so a dead server, a killed trainer or a full network delays events, never loses them.

Layout inside the run folder (`<save_dir>/platform/spool/`):

    <ms>_<run_id>/meta.json             {"project": "owner/name", "model": "name"} of that run
    <ms>_<run_id>/<seq:012d>.<kind>     one event (JSON), named so a directory listing is already in seq order
    blobs/<name>                        checkpoint files waiting for upload (hard links to the saved weights)
    rejected/                           events the server refused as invalid (kept for inspection, never resent)

Runs are sent oldest first (`<ms>` is the run's creation time), so events a killed process left behind go
out before the next process's. The spool is bounded by `max_bytes` (blobs not counted: they are links to
files the run keeps anyway). When full, events are dropped in this order: batch progress, then system
samples, then the oldest console lines; start, epoch, checkpoint and end events are always kept.
Files are written with a rename but not fsynced: a killed process loses nothing (the page cache keeps
them); only a power loss can, and fsync on every event would cost training time.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yoloforge.utils.log import LOGGER

DROP_ORDER = ("progress", "system", "console")  # first dropped first when the spool is full
DEFAULT_MAX_BYTES = 256 << 20


@dataclass(frozen=True)
class Spooled:
    """One waiting event: its run, seq, kind and file."""

    run_id: str
    seq: int
    kind: str
    path: Path

    def load(self) -> dict[str, Any]:
        return json.loads(self.path.read_bytes())


class Spool:
    """Thread-safe spool of one client; `put` from any thread, `pending`/`ack` from the sender."""

    def __init__(self, root: Path, run_id: str, project: str, model: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root, self.run_id, self.max_bytes = Path(root), run_id, max_bytes
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.run_dir: Path | None = self.root / f"{time.time_ns() // 1_000_000:013d}_{run_id}"
        self.run_dir.mkdir()
        _write(self.run_dir / "meta.json", {"project": project, "model": model})
        self._init_state()

    @classmethod
    def existing(cls, root: Path) -> Spool:
        """The spool earlier runs left at `root`, opened to send what waits (`yoloforge sync`); `put` is not
        available (there is no run of this process)."""
        spool = cls.__new__(cls)
        spool.root, spool.run_id, spool.max_bytes = Path(root), "", DEFAULT_MAX_BYTES
        spool.blobs, spool.run_dir = spool.root / "blobs", None
        spool._init_state()
        return spool

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._bytes = sum(p.stat().st_size for p in self.root.glob("*_*/*.*") if p.name != "meta.json")
        self.dropped: dict[str, int] = {}
        self._warned = False

    def put(self, kind: str, data: dict[str, Any], when: float | None = None) -> int | None:
        """Spool one event; returns its seq, or None when it was dropped because the spool is full."""
        if self.run_dir is None:
            raise RuntimeError(f"the spool {self.root} was opened to send what earlier runs left, not to add events")
        with self._lock:
            self._seq += 1
            seq = self._seq
            body = json.dumps({"seq": seq, "kind": kind, "time": when or time.time(), "data": data},
                              allow_nan=False, default=str).encode()  # fmt: skip
            if self._bytes + len(body) > self.max_bytes and not self._make_room(kind, len(body)):
                self._count_drop(kind)
                return None
            _write_bytes(self.run_dir / f"{seq:012d}.{kind}", body)
            self._bytes += len(body)
            return seq

    def _make_room(self, kind: str, need: int) -> bool:
        """Delete waiting events of the droppable kinds, least valued first, until `need` bytes fit."""
        rank = DROP_ORDER.index(kind) if kind in DROP_ORDER else len(DROP_ORDER)
        for victim in DROP_ORDER[:rank]:
            for item in self._listing(kinds=(victim,)):
                size = item.path.stat().st_size
                item.path.unlink(missing_ok=True)
                self._bytes -= size
                self._count_drop(victim)
                if self._bytes + need <= self.max_bytes:
                    return True
        return kind not in DROP_ORDER  # start/epoch/checkpoint/end are kept even over the bound

    def _count_drop(self, kind: str) -> None:
        self.dropped[kind] = self.dropped.get(kind, 0) + 1
        if not self._warned:
            self._warned = True
            LOGGER.warning("platform: the event spool %s is full (%.1f MiB); dropping batch progress, system samples "
                           "and then old console lines until the server catches up", self.root,
                           self.max_bytes / (1 << 20))  # fmt: skip

    def _listing(self, kinds: tuple[str, ...] | None = None) -> list[Spooled]:
        out = []
        for run_dir in sorted(d for d in self.root.iterdir() if d.is_dir() and "_" in d.name):
            run_id = run_dir.name.split("_", 1)[1]
            for p in sorted(run_dir.iterdir()):
                stem, _, kind = p.name.partition(".")
                if not stem.isdigit() or (kinds and kind not in kinds):
                    continue
                out.append(Spooled(run_id, int(stem), kind, p))
        return out

    def pending(self, limit: int) -> tuple[str, dict[str, str], list[Spooled]]:
        """(run id, its meta, up to `limit` of its waiting events in seq order) of the oldest run with any."""
        for run_dir in sorted(d for d in self.root.iterdir() if d.is_dir() and "_" in d.name):
            items = []
            for p in sorted(run_dir.iterdir()):
                stem, _, kind = p.name.partition(".")
                if stem.isdigit():
                    items.append(Spooled(run_dir.name.split("_", 1)[1], int(stem), kind, p))
                    if len(items) >= limit:
                        break
            if items:
                return items[0].run_id, json.loads((run_dir / "meta.json").read_text()), items
            if run_dir != self.run_dir:
                shutil.rmtree(run_dir, ignore_errors=True)  # an older run, all sent
        return self.run_id, {}, []

    def ack(self, items: list[Spooled]) -> None:
        """Delete acknowledged events."""
        with self._lock:
            for item in items:
                try:
                    size = item.path.stat().st_size
                    item.path.unlink()
                    self._bytes -= size
                except FileNotFoundError:
                    pass

    def rewrite(self, item: Spooled, event: dict[str, Any]) -> None:
        """Replace a waiting event's content (the sender records a finished upload in it)."""
        with self._lock:
            old = item.path.stat().st_size
            body = json.dumps(event, allow_nan=False, default=str).encode()
            _write_bytes(item.path, body)
            self._bytes += len(body) - old

    def reject(self, items: list[Spooled]) -> None:
        """Move events the server refused as invalid aside (never resent)."""
        target = self.root / "rejected"
        target.mkdir(exist_ok=True)
        with self._lock:
            for item in items:
                if item.path.exists():
                    self._bytes -= item.path.stat().st_size
                    item.path.replace(target / f"{item.run_id}-{item.path.name}")

    def waiting(self) -> int:
        """How many events wait to be sent (all runs)."""
        return len(self._listing())

    def add_blob(self, src: Path, name: str) -> Path | None:
        """Keep `src` for upload as blobs/`name`: a hard link (the saved file is replaced by rename, so the link
        keeps this version), else a copy; None when `src` is gone."""
        dst = self.blobs / name
        dst.unlink(missing_ok=True)
        try:
            os.link(src, dst)
        except FileNotFoundError:
            return None
        except OSError:
            shutil.copyfile(src, dst)
        return dst


def _write_bytes(path: Path, body: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(body)
    os.replace(tmp, path)


def _write(path: Path, value: dict[str, Any]) -> None:
    _write_bytes(path, json.dumps(value).encode())
