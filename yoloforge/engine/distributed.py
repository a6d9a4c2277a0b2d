"""Multi-device training: one ordinary process per device, started by yoloforge with torch.multiprocessing.

Rank, world size and device travel in a `DistContext` passed explicitly; nothing reads them from
the environment at import. NCCL is used on GPUs, gloo on CPU. Every collective has a timeout, so a
stuck rank ends the run with an error instead of hanging for hours.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as torch_dist

DEFAULT_TIMEOUT_S = 1800


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank -1 and world 1 mean plain single-process training."""

    rank: int = -1
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

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


def _worker(
    rank: int, devices: list[torch.device], port: int, fn: Callable[[DistContext], Any], errors: Any, results: Any
) -> None:
    """Body of each spawned process: join the group, run `fn`, report the main rank's result."""
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
        result = fn(DistContext(rank=rank, world_size=world, device=device))
        if rank == 0:
            results.put(result)
    except BaseException as e:
        errors.put((rank, type(e).__name__, str(e), traceback.format_exc()))
        raise
    finally:
        torch_dist.destroy_process_group()


class DistributedRunError(RuntimeError):
    """A rank failed; carries the first failing rank's message."""


def launch(fn: Callable[[DistContext], Any], devices: list[torch.device]) -> Any:
    """Run `fn(ctx)` once per device in spawned processes; return rank 0's result.

    `fn` must be picklable (a module-level function or a functools.partial of one).
    """
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    errors, results = ctx.SimpleQueue(), ctx.SimpleQueue()
    port = free_port()
    try:
        mp.start_processes(_worker, args=(devices, port, fn, errors, results), nprocs=len(devices),
                           join=True, start_method="spawn")  # fmt: skip
    except mp.ProcessRaisedException as e:
        raise DistributedRunError(_first_error(errors) or str(e)) from None
    except mp.ProcessExitedException as e:
        raise DistributedRunError(f"a training process died: {e}") from None
    return results.get() if not results.empty() else None


def _first_error(errors: Any) -> str | None:
    if errors.empty():
        return None
    rank, kind, message, _ = errors.get()
    return f"rank {rank} failed: {kind}: {message}"


def broadcast_flag(flag: bool, ctx: DistContext) -> bool:
    """Rank 0's decision (e.g. early stop), shared with every rank so all leave the loop together."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([int(flag)], device=ctx.device if ctx.device.type == "cuda" else "cpu")
    torch_dist.broadcast(t, src=0)
    return bool(t.item())
