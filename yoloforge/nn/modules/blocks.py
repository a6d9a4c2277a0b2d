"""Feature-extraction blocks of YOLOv8 and YOLO11.

Constructor arguments follow the YAML convention `(c1, c2, n, ...)`: input channels, output
channels, then the number of inner repeats. Sub-module names (`cv1`, `cv2`, `m`, ...) are part of
the checkpoint format and must not be renamed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from yoloforge.nn.modules.conv import Conv


class Bottleneck(nn.Module):
    """Two convolutions with an optional residual (only when input and output widths match)."""

    def __init__(
        self,
        c1: int,
        c2: int,
        shortcut: bool = True,
        g: int = 1,
        k: tuple[int, int] = (3, 3),
        e: float = 0.5,
    ) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, k[0], 1)
        self.cv2 = Conv(hidden, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block that keeps every intermediate output: split, chain n blocks, concat all, project.

    Keeping all partial outputs gives the 1x1 projection a richer gradient path than plain CSP.
    """

    def __init__(
        self,
        c1: int,
        c2: int,
        n: int = 1,
        shortcut: bool = False,
        g: int = 1,
        e: float = 0.5,
        *,
        inner: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        if inner is None:

            def inner(c: int) -> nn.Module:
                return Bottleneck(c, c, shortcut, g, k=(3, 3), e=1.0)

        self.m = nn.ModuleList(inner(self.c) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class C3(nn.Module):
    """Classic CSP block: one branch runs n bottlenecks, the other is a 1x1 shortcut."""

    def __init__(
        self,
        c1: int,
        c2: int,
        n: int = 1,
        shortcut: bool = True,
        g: int = 1,
        e: float = 0.5,
        k: int | None = None,
    ) -> None:
        super().__init__()
        hidden = int(c2 * e)
        kernels = (1, 3) if k is None else (k, k)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(c1, hidden, 1, 1)
        self.cv3 = Conv(2 * hidden, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, g, k=kernels, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k(C3):
    """C3 whose bottlenecks use a k x k kernel in both convolutions (YOLO11's deeper inner block)."""

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5, k: int = 3
    ) -> None:
        super().__init__(c1, c2, n, shortcut, g, e, k=k)


class C3k2(C2f):
    """YOLO11's C2f variant: inner blocks are Bottlenecks, or two-deep C3k blocks when `c3k` is set."""

    def __init__(
        self,
        c1: int,
        c2: int,
        n: int = 1,
        c3k: bool = False,
        e: float = 0.5,
        g: int = 1,
        shortcut: bool = True,
    ) -> None:
        def inner(c: int) -> nn.Module:
            return C3k(c, c, 2, shortcut, g) if c3k else Bottleneck(c, c, shortcut, g)

        super().__init__(c1, c2, n, shortcut, g, e, inner=inner)


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max-pools emulate 5/9/13 receptive fields."""

    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        hidden = c1 // 2
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(hidden * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.cv1(x)]
        for _ in range(3):
            feats.append(self.m(feats[-1]))
        return self.cv2(torch.cat(feats, 1))


class Attention(nn.Module):
    """Multi-head self-attention over all pixels, with a depthwise positional-encoding conv on V.

    Keys and queries use half the per-head width (`attn_ratio`) to keep the block cheap.
    """

    def __init__(self, dim: int, num_heads: int = 8, attn_ratio: float = 0.5) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        qkv_channels = dim + 2 * self.key_dim * num_heads
        self.qkv = Conv(dim, qkv_channels, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, 1, g=dim, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = h * w
        qkv = self.qkv(x).view(b, self.num_heads, 2 * self.key_dim + self.head_dim, tokens)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.head_dim], dim=2)
        weights = (q.transpose(-2, -1) @ k) * self.scale  # (b, heads, tokens, tokens)
        weights = weights.softmax(dim=-1)
        out = (v @ weights.transpose(-2, -1)).view(b, c, h, w)
        out = out + self.pe(v.reshape(b, c, h, w))
        return self.proj(out)


class PSABlock(nn.Module):
    """Transformer-style block: residual attention then a residual two-layer 1x1 feed-forward."""

    def __init__(self, c: int, attn_ratio: float = 0.5, num_heads: int = 4, shortcut: bool = True) -> None:
        super().__init__()
        self.attn = Attention(c, num_heads=num_heads, attn_ratio=attn_ratio)
        self.ffn = nn.Sequential(Conv(c, c * 2, 1), Conv(c * 2, c, 1, act=False))
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x) if self.add else self.attn(x)
        return x + self.ffn(x) if self.add else self.ffn(x)


class C2PSA(nn.Module):
    """CSP wrapper around n PSABlocks: attention runs on half the channels, the rest pass through."""

    def __init__(self, c1: int, c2: int, n: int = 1, e: float = 0.5) -> None:
        super().__init__()
        if c1 != c2:
            raise ValueError(f"C2PSA needs equal input and output channels, got {c1} and {c2}")
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        heads = max(self.c // 64, 1)
        self.m = nn.Sequential(*(PSABlock(self.c, attn_ratio=0.5, num_heads=heads) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))


class DFL(nn.Module):
    """Distribution Focal Loss integral: expected value of a softmax over `c1` distance bins.

    The 1x1 conv holds fixed weights 0..c1-1 and is frozen; it stays a parameter so checkpoints
    (which store `dfl.conv.weight`) load one to one.
    """

    def __init__(self, c1: int = 16) -> None:
        super().__init__()
        self.c1 = c1
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, anchors = x.shape  # x: (b, 4 * c1, anchors)
        probs = x.view(b, 4, self.c1, anchors).transpose(2, 1).softmax(1)
        return self.conv(probs).view(b, 4, anchors)
