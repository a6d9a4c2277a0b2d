"""Multi-device training: one ordinary process per device, started by yoloforge or by an outside launcher.

Rank, world size and device travel in a `DistContext` passed explicitly; nothing reads them from the
environment at import. Two ways in:
- `launch(fn, devices)`: yoloforge spawns one process per device with torch.multiprocessing and forwards
  SIGINT/SIGTERM to them (each child runs in its own process group, as torchrun's workers do, so a
  terminal's Ctrl-C reaches them once, through the parent).
- `env_context()` + `process_group()`: the process was started by torchrun or a SLURM-style launcher that
  sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; yoloforge joins that group instead.
NCCL is used on GPUs, gloo on CPU. Every collective has a timeout, so a stuck rank ends the run with an
error instead of hanging for hours.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as torch_dist

DEFAULT_TIMEOUT_S = 1800
T = TypeVar("T")
LAUNCHER_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank -1 and world 1 mean plain single-process training.

    `local_rank` is the rank among the processes of this machine (it picks the GPU); -1 when not distributed.
    """

    rank: int = -1
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    local_rank: int = -1

    @property
    def is_main(self) -> bool:
        """Only the main process logs, plots and saves."""
        return self.rank in (-1, 0)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def free_port() -> int:
    """A free TCP port on loopback for the process group's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timeout_seconds() -> int:
    """Collective timeout: YOLOFORGE_DDP_TIMEOUT seconds if set, else 30 minutes."""
    return int(os.environ.get("YOLOFORGE_DDP_TIMEOUT", DEFAULT_TIMEOUT_S))


# --- started by an outside launcher (torchrun, SLURM) ----------------------------------------------------------
def env_context(device: str | None) -> DistContext | None:
    """The context an outside launcher set up through RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT.

    None when those are not all set. Read when training starts, never at import. Each process uses
    cuda:LOCAL_RANK when CUDA is present and `device` does not ask for the CPU, else the CPU.
    """
    env = {k: os.environ.get(k) for k in LAUNCHER_VARS}
    if any(v is None or v == "" for v in env.values()):
        return None
    rank, local_rank, world = int(env["RANK"]), int(env["LOCAL_RANK"]), int(env["WORLD_SIZE"])
    wants_cpu = (device or "").strip().lower().startswith("cpu")
    dev = torch.device("cuda", local_rank) if torch.cuda.is_available() and not wants_cpu else torch.device("cpu")
    return DistContext(rank=rank, world_size=world, device=dev, local_rank=local_rank)


@contextlib.contextmanager
def process_group(ctx: DistContext) -> Iterator[None]:
    """Join the launcher's process group (env:// rendezvous) for the block; leave it after.

    A group the caller already initialised is used as it is and left open.
    """
    if torch_dist.is_initialized():
        yield
        return
    if ctx.device.type == "cuda":
        torch.cuda.set_device(ctx.device)
    backend = "nccl" if ctx.device.type == "cuda" else "gloo"
    torch_dist.init_process_group(backend, init_method="env://", rank=ctx.rank, world_size=ctx.world_size,
                                  timeout=dt.timedelta(seconds=timeout_seconds()))  # fmt: skip
    try:
        yield
    finally:
        torch_dist.destroy_process_group()


# --- spawned by yoloforge -------------------------------------------------------------------------------------
def _worker(
    rank: int, devices: list[torch.device], port: int, fn: Callable[[DistContext], Any], errors: Any, results: Any
) -> None:
    """Body of each spawned process: join the group, run `fn`, report the main rank's result."""
    os.setpgid(0, 0)  # own process group: a terminal's Ctrl-C reaches the parent, which forwards it once
    _terminate_with_parent()
    world = len(devices)
    device = devices[rank]
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch_dist.init_process_group(
        backend,
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=dt.timedelta(seconds=timeout_seconds()),
    )
    try:
        result = fn(DistContext(rank=rank, world_size=world, device=device, local_rank=rank))
        if rank == 0:
            results.put(result)
    except BaseException as e:
        errors.put((rank, type(e).__name__, str(e), traceback.format_exc()))
        raise
    finally:
        torch_dist.destroy_process_group()


def _terminate_with_parent() -> None:
    """On Linux, receive SIGTERM when the launching process dies, so this rank stops gracefully and saves
    instead of running on orphaned (outside the parent's process group, no terminal hang-up reaches it)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG, see prctl(2)


class DistributedRunError(RuntimeError):
    """A rank failed; carries the first failing rank's message."""


def launch(fn: Callable[[DistContext], Any], devices: list[torch.device]) -> Any:
    """Run `fn(ctx)` once per device in spawned processes; return rank 0's result.

    `fn` must be picklable (a module-level function or a functools.partial of one). SIGTERM and SIGINT
    sent to this process are forwarded to every child; after a second SIGINT the children are aborted
    and KeyboardInterrupt is raised here.
    """
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    errors, results = ctx.SimpleQueue(), ctx.SimpleQueue()
    port = free_port()
    context = mp.start_processes(_worker, args=(devices, port, fn, errors, results), nprocs=len(devices),
                                 join=False, start_method="spawn")  # fmt: skip
    interrupts = [0]
    try:
        with _forwarding_signals(context.processes, interrupts):
            while not context.join(timeout=0.5):
                pass
    except mp.ProcessRaisedException as e:
        if interrupts[0] > 1:
            raise KeyboardInterrupt from None
        raise DistributedRunError(_first_error(errors) or str(e)) from None
    except mp.ProcessExitedException as e:
        if interrupts[0] > 1:
            raise KeyboardInterrupt from None
        raise DistributedRunError(f"a training process died: {e}") from None
    return results.get() if not results.empty() else None


@contextlib.contextmanager
def _forwarding_signals(processes: list[Any], interrupts: list[int]) -> Iterator[None]:
    """While the children run, send them every SIGTERM and SIGINT this process receives (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT:
            interrupts[0] += 1
        for p in processes:
            if p.is_alive() and p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _first_error(errors: Any) -> str | None:
    if errors.empty():
        return None
    rank, kind, message, _ = errors.get()
    return f"rank {rank} failed: {kind}: {message}"


# --- collectives the trainer uses -----------------------------------------------------------------------------
def _comm_device(ctx: DistContext) -> torch.device:
    return ctx.device if ctx.device.type == "cuda" else torch.device("cpu")


def broadcast_ints(values: list[int], ctx: DistContext) -> list[int]:
    """Rank 0's integers (e.g. [stop, planned epochs], the AutoBatch size), shared with every rank."""
    if not ctx.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.int64, device=_comm_device(ctx))
    torch_dist.broadcast(t, src=0)
    return [int(v) for v in t.tolist()]


def max_ints(values: list[int], ctx: DistContext) -> list[int]:
    """The element-wise maximum over all ranks: one small all-reduce (used once per batch for stop requests)."""
    if not ctx.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.int64, device=_comm_device(ctx))
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return [int(v) for v in t.tolist()]


def broadcast_flag(flag: bool, ctx: DistContext) -> bool:
    """Rank 0's decision (e.g. early stop), shared with every rank so all leave the loop together."""
    return bool(broadcast_ints([int(flag)], ctx)[0])


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's picklable object (e.g. the run folder it created), shared with every rank."""
    if not ctx.distributed:
        return obj
    box = [obj]
    torch_dist.broadcast_object_list(box, src=0, device=_comm_device(ctx))
    return box[0]


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        torch_dist.barrier()


def rank_zero_first(ctx: DistContext, fn: Callable[[], T]) -> T:
    """`fn()` on rank 0 first, then on each machine's local rank 0, then on the other ranks; returns its result.

    For work that writes shared files (a dataset download, label caches): the first writer fills them, later
    ranks find them done. Machines without a shared file system get one writer each (their local rank 0).
    A rank whose `fn` fails still takes part in the barriers, then raises, so no other rank is left waiting.
    """
    if not ctx.distributed:
        return fn()
    phase = 0 if ctx.rank == 0 else 1 if ctx.local_rank == 0 else 2
    result: Any = None
    error: BaseException | None = None
    for p in range(3):
        if p == phase:
            try:
                result = fn()
            except Exception as e:
                error = e
        torch_dist.barrier()
    if error is not None:
        raise error
    return result
