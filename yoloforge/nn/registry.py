"""Map YAML layer names to module classes plus the rule that turns a YAML row into a module.

A row is `[from, repeats, name, args]`. Each registered name carries a `kind` that says how its
arguments are completed from the model context (input channels, width/depth multipliers, nc):

- `channels`: args[0] is the output width; it is scaled and input channels are prepended.
- `repeated`: like `channels`, and the (depth-scaled) repeat count is passed inside as `n`.
- `passthrough`: shape-preserving layers (upsampling); output channels equal input channels.
- `concat`: output channels are the sum of all inputs.
- `head`: args are (nc, ...); the input channel list is passed as the second argument.

Everywhere the string "nc" is replaced by the class count (and the string "None" by None), and a
trailing mapping in args is passed as keyword arguments (e.g. `[nc, {dw_cls: false}]`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from yoloforge.nn.modules import C2PSA, C3, SPPF, Bottleneck, C2f, C3k, C3k2, Concat, Conv, Detect, DWConv

Kind = Literal["channels", "repeated", "passthrough", "concat", "head"]


@dataclass(frozen=True)
class LayerType:
    """A YAML-buildable layer: its class and how to fill in its constructor arguments."""

    cls: Callable[..., nn.Module]
    kind: Kind


@dataclass(frozen=True)
class BuildContext:
    """Model-wide settings a row needs: scaling factors, class count and per-scale switches."""

    depth: float
    width: float
    max_channels: float
    nc: int
    force_c3k: bool = False


@dataclass(frozen=True)
class BuiltLayer:
    """One constructed layer and its output channel count (0 for the head, which ends the graph)."""

    module: nn.Module
    c_out: int


LAYERS: dict[str, LayerType] = {
    "Conv": LayerType(Conv, "channels"),
    "DWConv": LayerType(DWConv, "channels"),
    "SPPF": LayerType(SPPF, "channels"),
    "Bottleneck": LayerType(Bottleneck, "channels"),
    "C2f": LayerType(C2f, "repeated"),
    "C3": LayerType(C3, "repeated"),
    "C3k": LayerType(C3k, "repeated"),
    "C3k2": LayerType(C3k2, "repeated"),
    "C2PSA": LayerType(C2PSA, "repeated"),
    "Concat": LayerType(Concat, "concat"),
    "nn.Upsample": LayerType(nn.Upsample, "passthrough"),
    "Detect": LayerType(Detect, "head"),
}


def register_layer(name: str, cls: Callable[..., nn.Module], kind: Kind) -> None:
    """Make a custom layer usable by name in model YAMLs (refuses to silently replace a built-in)."""
    if name in LAYERS and LAYERS[name].cls is not cls:
        raise ValueError(f"layer name {name!r} is already registered for {LAYERS[name].cls.__name__}")
    LAYERS[name] = LayerType(cls, kind)


def make_divisible(x: float, divisor: int = 8) -> int:
    """Round a channel count up to a multiple of `divisor` (hardware-friendly widths)."""
    return int(math.ceil(x / divisor) * divisor)


def scale_repeats(n: int, depth: float) -> int:
    """Depth-scale a repeat count; a single layer is never scaled away."""
    return max(round(n * depth), 1) if n > 1 else n


def scale_width(c: int, ctx: BuildContext) -> int:
    """Width-scale an output channel count, capped by the scale's max_channels."""
    return make_divisible(min(c, ctx.max_channels) * ctx.width, 8)


def known_layers() -> list[str]:
    """Names accepted in the module column of a model YAML."""
    return sorted(LAYERS)


def build_layer(name: str, c_in: Sequence[int], repeats: int, args: Sequence[Any], ctx: BuildContext) -> BuiltLayer:
    """Construct the module for one YAML row; `c_in` holds the channel count of each input."""
    layer = LAYERS[name]
    n = scale_repeats(repeats, ctx.depth)
    args = [_resolve_arg(a, ctx) for a in args]
    kwargs: dict[str, Any] = args.pop() if args and isinstance(args[-1], dict) else {}
    if layer.kind == "head":
        return BuiltLayer(layer.cls(args[0], c_in, *args[1:], **kwargs), 0)
    if layer.kind == "concat":
        return BuiltLayer(_stack(layer.cls, n, args, kwargs), sum(c_in))
    if layer.kind == "passthrough":
        return BuiltLayer(_stack(layer.cls, n, args, kwargs), c_in[0])
    c_out = scale_width(args[0], ctx)
    if layer.kind == "repeated":
        extra = _with_c3k(args[1:]) if layer.cls is C3k2 and ctx.force_c3k else args[1:]
        return BuiltLayer(layer.cls(c_in[0], c_out, n, *extra, **kwargs), c_out)
    mods = [layer.cls(c_in[0] if i == 0 else c_out, c_out, *args[1:], **kwargs) for i in range(n)]
    return BuiltLayer(mods[0] if n == 1 else nn.Sequential(*mods), c_out)


def _resolve_arg(arg: Any, ctx: BuildContext) -> Any:
    """Substitute symbolic args: "nc" -> class count; "None" -> None (as YAMLs from other tools spell it)."""
    if arg == "nc":
        return ctx.nc
    return None if arg == "None" else arg


def _with_c3k(extra: list[Any]) -> list[Any]:
    """C3k2 args after (c1, c2, n) start with `c3k`; force it on (used by the large scales)."""
    return [True, *extra[1:]] if extra else [True]


def _stack(cls: Callable[..., nn.Module], n: int, args: Sequence[Any], kwargs: dict[str, Any]) -> nn.Module:
    """`n` copies of a channel-agnostic layer in sequence; a single one is returned unwrapped."""
    mods = [cls(*args, **kwargs) for _ in range(n)]
    return mods[0] if n == 1 else nn.Sequential(*mods)
