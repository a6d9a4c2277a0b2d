"""Optimizer construction and the learning-rate schedule, warmup included.

Three parameter groups, in Ultralytics' order so `lr/pg0..2` in results.csv mean the same:
pg0 biases (no decay; warmed up from `warmup_bias_lr`), pg1 conv/linear weights (decayed),
pg2 normalisation weights (no decay).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from yoloforge.cfg.schema import RunConfig
from yoloforge.utils.log import LOGGER

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)


@dataclass(frozen=True)
class OptimizerChoice:
    name: str
    lr: float
    momentum: float
    reason: str


def choose_optimizer(cfg: RunConfig, nc: int, iterations: int) -> OptimizerChoice:
    """Resolve optimizer='auto': SGD for long schedules (> 10,000 steps), else AdamW with an nc-based lr."""
    if cfg.optimizer != "auto":
        return OptimizerChoice(cfg.optimizer, cfg.lr0, cfg.momentum, "set by optimizer=")
    if iterations > 10_000:
        return OptimizerChoice("SGD", 0.01, 0.9, f"{iterations:,} optimizer steps > 10,000")
    lr = round(0.002 * 5 / (4 + nc), 6)
    return OptimizerChoice("AdamW", lr, 0.9, f"{iterations:,} optimizer steps <= 10,000; lr from nc={nc}")


def param_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter], list[nn.Parameter]]:
    """(biases, decayed weights, norm weights), each parameter exactly once."""
    biases, weights, norms = [], [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if name == "bias":
                biases.append(p)
            elif isinstance(module, _NORMS):
                norms.append(p)
            else:
                weights.append(p)
    return biases, weights, norms


def build_optimizer(model: nn.Module, choice: OptimizerChoice, weight_decay: float) -> torch.optim.Optimizer:
    """The optimizer over the three groups; weight decay applies to pg1 only."""
    biases, weights, norms = param_groups(model)
    name, lr, m = choice.name, choice.lr, choice.momentum
    if name in ("Adam", "AdamW", "NAdam", "RAdam"):
        opt: torch.optim.Optimizer = getattr(torch.optim, name)(biases, lr=lr, betas=(m, 0.999), weight_decay=0.0)
    elif name == "RMSProp":
        opt = torch.optim.RMSprop(biases, lr=lr, momentum=m)
    elif name == "SGD":
        opt = torch.optim.SGD(biases, lr=lr, momentum=m, nesterov=True)
    else:
        raise ValueError(f"unknown optimizer {name}")
    opt.add_param_group({"params": weights, "weight_decay": weight_decay})
    opt.add_param_group({"params": norms, "weight_decay": 0.0})
    LOGGER.info(
        "optimizer: %s(lr=%g, momentum=%g) with groups %d weight(decay=%g), %d norm(decay=0), %d bias(decay=0)",
        name, lr, m, len(weights), weight_decay, len(norms), len(biases),
    )  # fmt: skip
    return opt


def lr_lambda(cfg: RunConfig, epochs: int) -> Callable[[float], float]:
    """LR multiplier per epoch: linear from 1 to `lrf`, or a cosine curve when `cos_lr`."""
    lrf = cfg.lrf
    if cfg.cos_lr:
        return lambda x: ((1 - math.cos(x * math.pi / epochs)) / 2) * (lrf - 1) + 1
    return lambda x: max(1 - x / epochs, 0) * (1.0 - lrf) + lrf


def warmup_iterations(cfg: RunConfig, batches_per_epoch: int) -> int:
    """Warmup length in iterations (at least 100 when warmup is on, as Ultralytics does)."""
    return max(round(cfg.warmup_epochs * batches_per_epoch), 100) if cfg.warmup_epochs > 0 else -1


def apply_warmup(
    opt: torch.optim.Optimizer, cfg: RunConfig, it: int, n_warmup: int, epoch_factor: float, bias_lr: float
) -> None:
    """Ramp each group's lr (biases down from `bias_lr`, others up from 0) and SGD's momentum (Adam betas stay)."""
    xi = (0, n_warmup)
    for j, group in enumerate(opt.param_groups):
        start = bias_lr if j == 0 else 0.0
        group["lr"] = float(np.interp(it, xi, (start, group["initial_lr"] * epoch_factor)))
        if "momentum" in group:
            group["momentum"] = float(np.interp(it, xi, (cfg.warmup_momentum, cfg.momentum)))


def accumulate_steps(nbs: int, batch: int) -> int:
    """Batches per optimizer step, so that each step sees about `nbs` images."""
    return max(round(nbs / batch), 1)
