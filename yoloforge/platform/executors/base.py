"""The executor interface: submit a worker, stop it, poll it, attach to it after a server restart.

A handle is a JSON-able dict the executor returns from `submit`; the platform stores it on the Job row, so a
restarted server (a new executor object) can poll and stop workers it did not start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from yoloforge.platform.gpus import Pool

JOB_FILE = "job.json"  # what the worker runs (written by the platform before submit)
PHASE_FILE = "phase"  # downloading / running, written by the worker
LOG_FILE = "train.log"


def exit_file(job_dir: Path, attempt: int) -> Path:
    """Where the worker of `attempt` writes its trainer's exit code."""
    return job_dir / f"exit-{attempt}.json"


@dataclass
class WorkerSpec:
    """Everything a worker needs: its folder (logs, run folder), the trainer's arguments, its environment."""

    job_id: int
    attempt: int
    job_dir: Path
    train_args: list[str]
    run_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    pool: Pool = field(default_factory=Pool)
    device: str | None = None

    def write(self) -> Path:
        """Write job.json into the job folder (the worker reads it)."""
        from yoloforge.utils.io import atomic_write_text

        self.job_dir.mkdir(parents=True, exist_ok=True)
        data = {"job_id": self.job_id, "attempt": self.attempt, "train_args": self.train_args,
                "run_dir": str(self.run_dir)}  # fmt: skip
        path = self.job_dir / JOB_FILE
        atomic_write_text(path, json.dumps(data, indent=1))
        (self.job_dir / PHASE_FILE).unlink(missing_ok=True)  # the last attempt's phase is not this one's
        return path


@dataclass
class WorkerStatus:
    """What a poll found: `alive`; else the trainer's `exit_code` (None: unknown, the worker vanished);
    `phases` are the phases the worker entered (downloading, running) with their unix times, in order."""

    alive: bool
    exit_code: int | None = None
    phases: list[tuple[str, float]] = field(default_factory=list)


class Executor(Protocol):
    """Runs workers. Every method may be called from the scheduler thread; handles survive restarts."""

    name: str

    def submit(self, spec: WorkerSpec) -> dict[str, Any]:
        """Start the worker; returns its handle. Raises on failure to start (the job fails with the message)."""
        ...

    def stop(self, handle: dict[str, Any], *, force: bool = False) -> None:
        """Graceful stop (SIGTERM to the process group: the trainer saves last.pt and exits 143); `force`: kill."""
        ...

    def poll(self, handle: dict[str, Any]) -> WorkerStatus:
        """Whether the worker lives; its exit code once it has ended."""
        ...

    def attach(self, handle: dict[str, Any]) -> bool:
        """After a server restart: True when the worker of `handle` still runs (and is the same process)."""
        ...


def read_phases(job_dir: Path) -> list[tuple[str, float]]:
    """The phases the worker wrote, as (phase, unix time), oldest first."""
    try:
        lines = (job_dir / PHASE_FILE).read_text().split("\n")
    except OSError:
        return []
    out = []
    for line in lines:
        name, _, ts = line.partition(" ")
        try:
            out.append((name, float(ts)))
        except ValueError:
            continue
    return out


def read_exit(job_dir: Path, attempt: int) -> int | None:
    try:
        return int(json.loads(exit_file(job_dir, attempt).read_text())["exit_code"])
    except (OSError, ValueError, KeyError):
        return None
