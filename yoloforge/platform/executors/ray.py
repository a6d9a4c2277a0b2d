"""The Ray executor: each job attempt is a detached, named Ray actor on an existing cluster (`--ray-address`)
that runs the same worker as the local executor, on the node Ray picks.

The actor asks for the pool's `num_cpus`, `num_gpus`, `accelerator_type` and custom `resources` (tests stand two
GPU types in with custom resources on a CPU cluster): Ray owns placement, so an actor that does not fit yet waits
in Ray's queue while the job is `starting`. The platform keeps the state machine and the retries. The actor
writes job.json on its node, starts the worker in a process group of its own, and reports its phases and exit
code from that node, so polling needs no shared file system. Its name (`yoloforge-job-<id>-<attempt>` in the
`yoloforge` namespace) is the handle: a restarted server finds the actor again with `ray.get_actor`.

The server's view of metrics and checkpoints comes from the streaming client on that node (issue 11); without
it, only nodes sharing the server's file system show them (executors/run_folder.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from yoloforge.platform.executors.base import LOG_FILE, WorkerSpec, WorkerStatus, read_exit, read_phases, write_job

NAMESPACE = "yoloforge"
POLL_TIMEOUT = 5.0
STOP_TIMEOUT = 15.0


class _Worker:
    """The actor's body (made a Ray actor class on first use, so importing this module needs no Ray)."""

    def __init__(self, job_dir: str, job: dict[str, Any], env: dict[str, str]) -> None:
        from pathlib import Path

        import ray

        self.job_dir, self.attempt = Path(job_dir), job["attempt"]
        write_job(self.job_dir, job)
        full_env = {**os.environ, **env}
        gpus = ray.get_gpu_ids()
        full_env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
        self.resources = ray.get_runtime_context().get_assigned_resources()
        with open(self.job_dir / LOG_FILE, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "yoloforge.platform.worker", str(self.job_dir)],
                cwd=self.job_dir, env=full_env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def status(self) -> dict[str, Any]:
        alive = self.proc.poll() is None
        code = None if alive else read_exit(self.job_dir, self.attempt)
        if not alive and code is None and self.proc.returncode is not None and self.proc.returncode < 0:
            code = self.proc.returncode  # the worker itself was killed
        return {"alive": alive, "exit_code": code, "phases": read_phases(self.job_dir), "resources": self.resources}

    def stop(self, force: bool) -> None:
        if self.proc.poll() is not None:
            return
        if force:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(signal.SIGTERM)  # the worker passes it to the trainer (graceful stop)


class RayExecutor:
    """Jobs as Ray actors on the cluster at `address` (None: connect to the one RAY_ADDRESS names, or start one)."""

    name = "ray"

    def __init__(self, address: str | None) -> None:
        import ray

        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, namespace=NAMESPACE, ignore_reinit_error=True, log_to_driver=False)
        self.actor_class = ray.remote(max_restarts=0, max_concurrency=4)(_Worker)

    def submit(self, spec: WorkerSpec) -> dict[str, Any]:
        pool = spec.pool
        name = f"yoloforge-job-{spec.job_id}-{spec.attempt}"
        options: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "lifetime": "detached",
                                   "num_cpus": pool.num_cpus, "num_gpus": pool.num_gpus,
                                   "resources": dict(pool.resources)}  # fmt: skip
        if pool.accelerator_type:
            options["accelerator_type"] = pool.accelerator_type
        self.actor_class.options(**options).remote(str(spec.job_dir), spec.job_json(), spec.env)
        return {"actor": name, "job_dir": str(spec.job_dir), "attempt": spec.attempt}

    def _actor(self, handle: dict[str, Any]) -> Any:
        try:
            return self.ray.get_actor(handle["actor"], namespace=NAMESPACE)
        except ValueError:
            return None

    def poll(self, handle: dict[str, Any]) -> WorkerStatus:
        from ray.exceptions import GetTimeoutError, RayActorError

        actor = self._actor(handle)
        if actor is None:
            return WorkerStatus(alive=False)  # vanished: no exit code
        try:
            st = self.ray.get(actor.status.remote(), timeout=POLL_TIMEOUT)
        except GetTimeoutError:
            return WorkerStatus(alive=True)  # not placed yet (Ray's queue) or busy
        except RayActorError:
            return WorkerStatus(alive=False)
        if not st["alive"]:
            self.ray.kill(actor)  # a detached actor lives until killed
        return WorkerStatus(alive=st["alive"], exit_code=st["exit_code"], phases=[tuple(p) for p in st["phases"]],
                            placement=st["resources"])  # fmt: skip

    def resources(self, handle: dict[str, Any]) -> dict[str, float]:
        """The resources Ray assigned to the job's actor (what it was placed with)."""
        actor = self._actor(handle)
        return {} if actor is None else self.ray.get(actor.status.remote(), timeout=60)["resources"]

    def stop(self, handle: dict[str, Any], *, force: bool = False) -> None:
        from ray.exceptions import GetTimeoutError, RayActorError

        actor = self._actor(handle)
        if actor is None:
            return
        try:
            self.ray.get(actor.stop.remote(force), timeout=STOP_TIMEOUT)
        except GetTimeoutError:
            if force:  # not placed, or not answering: end it (a graceful stop is sent again by the next poll)
                self.ray.kill(actor)
            else:
                raise
        except RayActorError:
            pass

    def attach(self, handle: dict[str, Any]) -> bool:
        return self._actor(handle) is not None
