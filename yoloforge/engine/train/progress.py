"""The per-epoch progress line: epoch, memory, the three losses, instances, size, it/s and ETA.

On a terminal it redraws in place; elsewhere (CI logs, files) it prints one line per epoch.
"""

from __future__ import annotations

import sys
import time

import torch

HEADER = f"{'Epoch':>11}{'GPU_mem':>11}{'box_loss':>11}{'cls_loss':>11}{'dfl_loss':>11}{'Instances':>11}{'Size':>11}"


def memory_text(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.memory_reserved(device) / 2**30:.3g}G"
    return "0G"


class EpochProgress:
    """Writes `HEADER`-aligned progress for one epoch of `total` batches."""

    def __init__(self, epoch: int, epochs: int, total: int, device: torch.device, enabled: bool = True) -> None:
        self.prefix = f"{epoch + 1}/{epochs}"
        self.total, self.device, self.enabled = total, device, enabled
        self.tty = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.last = ""

    def line(self, i: int, losses: torch.Tensor, instances: int, size: int) -> str:
        done = i + 1
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else 0.0
        values = "".join(f"{v:>11.4g}" for v in losses.tolist())
        return (
            f"{self.prefix:>11}{memory_text(self.device):>11}{values}{instances:>11}{size:>11}: "
            f"{100 * done // self.total:3d}% {done}/{self.total} [{_clock(elapsed)}<{_clock(eta)}, {rate:.2f}it/s]"
        )

    def update(self, i: int, losses: torch.Tensor, instances: int, size: int) -> None:
        if not self.enabled:
            return
        self.last = self.line(i, losses, instances, size)
        if self.tty:
            sys.stderr.write("\r" + self.last)
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.last:
            sys.stderr.write(("\r" if self.tty else "") + self.last + "\n")
            sys.stderr.flush()


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
