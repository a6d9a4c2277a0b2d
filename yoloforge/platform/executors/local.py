"""The local executor: each job's worker is a process group of its own on this machine.

The worker (`python -m yoloforge.platform.worker JOB_DIR`) starts in a new session (so a Ctrl-C of the server
does not reach it and it survives a server restart), with CUDA_VISIBLE_DEVICES from the pool's device, and
logs to the job folder. Its handle is (pid, process start time): a restarted server recognises the process, and
a reused pid is never mistaken for it (psutil's create_time).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import psutil

from yoloforge.platform.executors.base import LOG_FILE, WorkerSpec, WorkerStatus, read_exit, read_phases


class LocalExecutor:
    """Processes on this machine."""

    name = "local"

    def __init__(self) -> None:
        self._children: dict[int, subprocess.Popen] = {}  # pid -> Popen of workers this server started (reaped)

    def submit(self, spec: WorkerSpec) -> dict[str, Any]:
        spec.write()
        env = {**os.environ, **spec.env, "CUDA_VISIBLE_DEVICES": spec.device or ""}
        with open(spec.job_dir / LOG_FILE, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "yoloforge.platform.worker", str(spec.job_dir)],
                cwd=spec.job_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[proc.pid] = proc
        created = psutil.Process(proc.pid).create_time()
        return {"pid": proc.pid, "create_time": created, "job_dir": str(spec.job_dir), "attempt": spec.attempt}

    def _process(self, handle: dict[str, Any]) -> psutil.Process | None:
        """The worker if it still runs (same pid and start time, not a zombie)."""
        child = self._children.get(handle["pid"])
        if child is not None and child.poll() is not None:  # reap our own child
            self._children.pop(handle["pid"], None)
            return None
        try:
            proc = psutil.Process(handle["pid"])
            if abs(proc.create_time() - handle["create_time"]) > 0.01 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def stop(self, handle: dict[str, Any], *, force: bool = False) -> None:
        if self._process(handle) is None:
            return
        try:
            if force:
                os.killpg(handle["pid"], signal.SIGKILL)
            else:
                # to the worker, which passes it to the trainer: a SIGTERM to the whole group would also end the
                # data loader's worker processes, and the trainer would fail on the next batch instead of saving
                os.kill(handle["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass

    def poll(self, handle: dict[str, Any]) -> WorkerStatus:
        from pathlib import Path

        job_dir = Path(handle["job_dir"])
        if self._process(handle) is not None:
            return WorkerStatus(alive=True, phases=read_phases(job_dir))
        return WorkerStatus(alive=False, exit_code=read_exit(job_dir, handle["attempt"]), phases=read_phases(job_dir))

    def attach(self, handle: dict[str, Any]) -> bool:
        return self._process(handle) is not None
