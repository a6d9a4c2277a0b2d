"""Convolution building blocks shared by every YOLO family.

Attribute names (`conv`, `bn`, `act`) are part of the checkpoint format: state-dict keys such as
`model.0.conv.weight` and `model.0.bn.running_mean` must line up with existing checkpoints.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# BatchNorm settings used across the detector family; checkpoints store these values too.
BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def same_padding(kernel: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size for stride 1 (odd kernels), so strides divide sizes exactly."""
    effective = dilation * (kernel - 1) + 1
    return effective // 2


class Conv(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> SiLU; `act=False` leaves out the activation."""

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int = 1,
        s: int = 1,
        p: int | None = None,
        g: int = 1,
        d: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        padding = same_padding(k, d) if p is None else p
        self.conv = nn.Conv2d(c1, c2, k, s, padding, dilation=d, groups=g, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c2, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act: nn.Module = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def fuse_bn(self) -> None:
        """Fold the BatchNorm into the convolution (inference only); the BN becomes an Identity."""
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        self.conv = fold_batchnorm(self.conv, self.bn)
        self.bn = nn.Identity()


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Return a new biased Conv2d computing bn(conv(x)) with BN's running statistics."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_(bn.bias + (conv_bias - bn.running_mean) * scale)
    fused.weight.requires_grad_(False)
    fused.bias.requires_grad_(False)
    return fused


class DWConv(Conv):
    """Depthwise (grouped) Conv: groups = gcd(c1, c2), the cheap spatial mixing used by YOLO11's head."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, d: int = 1, act: bool = True) -> None:
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


class Concat(nn.Module):
    """Concatenate a list of feature maps along one dimension (channels by default)."""

    def __init__(self, dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, self.d)
