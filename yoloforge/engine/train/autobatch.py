"""AutoBatch: choose the batch size from measured CUDA memory use.

`batch=-1` targets 60% of the GPU's memory, `batch=0.7` targets 70%. Memory is measured for a few
small batches and fitted with a line; the batch whose predicted use hits the target wins. On CPU and
MPS there is nothing to measure, so 16 is used and the log says so.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from yoloforge.utils.log import LOGGER

DEFAULT_BATCH = 16
DEFAULT_FRACTION = 0.60


def resolve_batch(batch: int | float, device: torch.device) -> int:
    """The batch size to use: `batch` itself unless it asks for AutoBatch."""
    if isinstance(batch, int) and batch >= 1:
        return batch
    if device.type != "cuda":
        LOGGER.info("AutoBatch needs CUDA; on %s using batch=%d", device.type, DEFAULT_BATCH)
        return DEFAULT_BATCH
    return -1  # measured later, once the model exists


def auto_batch(model: nn.Module, imgsz: int, device: torch.device, fraction: float) -> int:
    """Measure peak memory of forward+backward for batches 1..16 and extrapolate to `fraction` of the GPU."""
    total = torch.cuda.get_device_properties(device).total_memory
    sizes, used = [1, 2, 4, 8, 16], []
    model = model.to(device).train()
    for b in sizes:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        try:
            x = torch.rand(b, 3, imgsz, imgsz, device=device)
            with torch.autocast("cuda", dtype=torch.float16):
                out = model(x)
            sum(o.float().sum() for o in out).backward()
            used.append(torch.cuda.max_memory_allocated(device))
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            model.zero_grad(set_to_none=True)
    if len(used) < 2:
        LOGGER.warning("AutoBatch could not measure memory; using batch=%d", DEFAULT_BATCH)
        return DEFAULT_BATCH
    slope, intercept = np.polyfit(sizes[: len(used)], used, 1)
    batch = int((total * fraction - intercept) / slope) if slope > 0 else DEFAULT_BATCH
    batch = max(1, min(batch, 1024))
    LOGGER.info("AutoBatch: batch=%d for %.0f%% of %.1f GiB on %s", batch, 100 * fraction, total / 2**30, device)
    return batch
