"""multi_scale=True: each training batch at a random size between 0.5 and 1.5 x imgsz, a multiple of the stride.

The rule Ultralytics documents and uses: a size drawn uniformly from [0.5 imgsz, 1.5 imgsz + stride), rounded
down to a multiple of the model's largest stride; the batch is resized (bilinear) so its long side is that
size, the short side rounded up to a stride multiple. Labels are normalised xywh, so they need no change.

The draw is keyed by (seed, epoch, batch index) instead of coming from a running generator, so a resumed run
draws the same sizes as an unbroken one, and every DDP rank resizes the same batch to the same size.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

_STREAM = 0x6D73  # keeps these draws apart from the data pipeline's (seed, epoch, index) streams


def batch_size_px(imgsz: int, stride: int, seed: int, epoch: int, batch: int) -> int:
    """The long side in pixels for batch `batch` of `epoch`: a stride multiple in [0.5, 1.5] x imgsz."""
    rng = np.random.default_rng([seed, epoch, batch, _STREAM])
    size = int(rng.integers(int(imgsz * 0.5), int(imgsz * 1.5) + stride)) // stride * stride
    return max(size, stride)


def resize_batch(img: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """(B, C, H, W) float images resized so the long side is `size`, both sides stride multiples."""
    h, w = img.shape[2:]
    scale = size / max(h, w)
    if scale == 1:
        return img
    shape = [math.ceil(x * scale / stride) * stride for x in (h, w)]
    out = F.interpolate(img, size=shape, mode="bilinear", align_corners=False)
    return out.contiguous(memory_format=torch.channels_last)
