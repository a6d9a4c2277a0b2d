"""The detection model: a flat list of layers wired by `from` indices, ending in a Detect head.

Layers live in `self.model` (an nn.ModuleList) so state-dict keys read `model.<i>.<...>`, the
layout existing YOLOv8 / YOLO11 checkpoints use. Build one with `yoloforge.nn.builder.build_model`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from yoloforge.nn.modules import Conv, Detect

Source = int | list[int]
_STRIDE_PROBE = 256  # input size for the shape-only pass that measures each level's stride


@dataclass(frozen=True)
class ModelInfo:
    """Size summary of a model.

    `layers` is `len(list(model.modules()))`: every nn.Module object, containers and the model
    itself included (395 for yolo11n). This is simple and unambiguous; it is NOT Ultralytics'
    convention (which prints 181 for yolo11n), so compare parameters and GFLOPs, not layers.
    `gradients` counts trainable parameters (the frozen DFL conv is excluded). `gflops` is for one
    `imgsz` x `imgsz` image, counted by torch's FlopCounterMode (a multiply-add counts as 2 FLOPs).
    """

    layers: int
    parameters: int
    gradients: int
    gflops: float
    imgsz: int = 640  # the square input size `gflops` was counted at


class DetectionModel(nn.Module):
    """YOLO detector. Training forward: raw per-level maps; eval forward: decoded predictions."""

    def __init__(
        self,
        layers: Sequence[nn.Module],
        sources: Sequence[Source],
        cfg: Mapping[str, Any],
        ch: int = 3,
        names: Mapping[int, str] | None = None,
    ) -> None:
        super().__init__()
        if not layers or not isinstance(layers[-1], Detect):
            raise ValueError("the last layer of a DetectionModel must be a Detect head")
        if len(layers) != len(sources):
            raise ValueError(f"{len(layers)} layers but {len(sources)} source entries")
        self.model = nn.ModuleList(layers)
        self.sources: list[Source] = [s if isinstance(s, int) else list(s) for s in sources]
        self.save: list[int] = _saved_outputs(self.sources)
        self.yaml: dict[str, Any] = dict(cfg)
        self.ch = ch
        head = self.head
        self.nc = head.nc
        self.names: dict[int, str] = dict(names) if names is not None else {i: f"class{i}" for i in range(self.nc)}
        if len(self.names) != self.nc:
            raise ValueError(f"{len(self.names)} class names for nc={self.nc}")
        head.stride.copy_(self._measure_strides())
        head.bias_init()

    @property
    def head(self) -> Detect:
        """The Detect layer (also `self.model[-1]`); the loss reads nc, reg_max, stride and no from it."""
        return self.model[-1]

    @property
    def stride(self) -> torch.Tensor:
        """Downsampling factor of each output level, e.g. tensor([8., 16., 32.])."""
        return self.head.stride

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """Training: list of (B, 4*reg_max+nc, H, W) per level. Eval: (B, 4+nc, anchors), xywh pixels."""
        return self.head(self._features(x))

    def forward_raw(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Raw per-level maps in any mode; validation decodes them with `self.head.decode` and also
        computes the loss from them, in one pass."""
        return self.head.raw(self._features(x))

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Run every layer but the head; return the head's input feature maps."""
        outputs: list[torch.Tensor | None] = []
        for i, layer in enumerate(self.model[:-1]):
            x = layer(self._gather(self.sources[i], x, outputs))
            outputs.append(x if i in self.save else None)
        return self._gather(self.sources[-1], x, outputs)

    @staticmethod
    def _gather(src: Source, last: torch.Tensor, outputs: list[torch.Tensor | None]) -> Any:
        if isinstance(src, int):
            return last if src == -1 else outputs[src]
        return [last if j == -1 else outputs[j] for j in src]

    @torch.no_grad()
    def _meta_forward(self, imgsz: int, training: bool) -> Any:
        """Forward with every weight swapped for a shape-only 'meta' tensor: no compute, no side effects.

        Non-persistent buffers (the head's stride) stay real, so eval-mode decoding still works.
        """
        meta = {k: torch.empty_like(v, device="meta") for k, v in self.state_dict(keep_vars=True).items()}
        dtype = next(iter(meta.values())).dtype
        x = torch.zeros(1, self.ch, imgsz, imgsz, device="meta", dtype=dtype)
        was_training = self.training
        self.train(training)
        try:
            return functional_call(self, meta, (x,), strict=False)
        finally:
            self.train(was_training)

    def _measure_strides(self) -> torch.Tensor:
        """Downsampling factor of each head input, from a shape-only probe pass."""
        maps = self._meta_forward(_STRIDE_PROBE, training=True)
        return torch.tensor([_STRIDE_PROBE / m.shape[-1] for m in maps], dtype=self.head.stride.dtype)

    @torch.no_grad()
    def fuse(self) -> DetectionModel:
        """Fold every BatchNorm into its convolution for faster inference (do not train afterwards)."""
        for module in self.modules():
            if isinstance(module, Conv):
                module.fuse_bn()
        return self

    def flops(self, imgsz: int = 640) -> float:
        """GFLOPs of one eval forward pass at imgsz x imgsz, counted by FlopCounterMode.

        The pass runs on meta tensors, so the count is exact at full size yet costs no compute.
        """
        with FlopCounterMode(display=False) as counter:
            self._meta_forward(imgsz, training=False)
        return counter.get_total_flops() / 1e9

    def info(self, imgsz: int = 640, verbose: bool = True) -> ModelInfo:
        """Layer, parameter and FLOP counts (GFLOPs of one imgsz x imgsz image); prints a one-line summary when
        verbose, naming the size, since GFLOPs grow with its square."""
        params = list(self.parameters())
        summary = ModelInfo(
            layers=len(list(self.modules())),
            parameters=sum(p.numel() for p in params),
            gradients=sum(p.numel() for p in params if p.requires_grad),
            gflops=self.flops(imgsz),
            imgsz=imgsz,
        )
        if verbose:
            print(
                f"{self.display_name} summary: {summary.layers} layers, {summary.parameters:,} parameters, "
                f"{summary.gradients:,} gradients, {summary.gflops:.1f} GFLOPs at imgsz={imgsz}"
            )
        return summary

    @property
    def display_name(self) -> str:
        """Model name with its scale, e.g. `yolo11n`; derived from the YAML it was built from."""
        return str(self.yaml.get("name", "model"))


def _saved_outputs(sources: Sequence[Source]) -> list[int]:
    """Indices of layers whose outputs are read later by a non-adjacent layer."""
    keep: set[int] = set()
    for i, src in enumerate(sources):
        for j in [src] if isinstance(src, int) else src:
            if j != -1:
                keep.add(j % i if j < 0 else j)
    return sorted(keep)
