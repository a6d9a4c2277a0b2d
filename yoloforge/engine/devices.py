"""Turn `device=` into torch devices: cpu, 0, 0,1, [0,1], cuda:0, mps, or empty for the best present."""

from __future__ import annotations

import torch

from yoloforge.errors import ConfigError


def available_devices() -> list[str]:
    """What this machine has, for error messages."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def select_devices(device: str | None) -> list[torch.device]:
    """One device per training process; more than one means distributed data-parallel training.

    `device='cpu,cpu'` (or `cpu:2`) asks for two CPU processes, which runs DDP over gloo without GPUs.
    """
    text = (device or "").strip().lower().replace(" ", "").strip("[]")
    if text in ("", "auto"):
        if torch.cuda.is_available():
            return [torch.device("cuda", 0)]
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return [torch.device("mps")]
        return [torch.device("cpu")]
    if text.startswith("cpu"):
        return _cpu_processes(text, device)
    if text == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ConfigError(f"device=mps is not available here; available: {', '.join(available_devices())}")
        return [torch.device("mps")]
    indices = [part.removeprefix("cuda:") for part in text.split(",") if part]
    if not all(i.isdigit() for i in indices):
        raise ConfigError(f"device={device!r}: expected cpu, mps, a CUDA index like 0, or indices like 0,1")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = [i for i in indices if int(i) >= count]
    if missing:
        raise ConfigError(
            f"device={device!r}: CUDA device {', '.join(missing)} not found "
            f"({count} CUDA device(s) visible); available: {', '.join(available_devices())}"
        )
    if len(set(indices)) != len(indices):
        raise ConfigError(f"device={device!r} names a device twice")
    return [torch.device("cuda", int(i)) for i in indices]


def _cpu_processes(text: str, original: str | None) -> list[torch.device]:
    parts = text.split(",")
    if all(p == "cpu" for p in parts):
        return [torch.device("cpu")] * len(parts)
    if len(parts) == 1 and text.startswith("cpu:") and text[4:].isdigit() and int(text[4:]) >= 1:
        return [torch.device("cpu")] * int(text[4:])
    raise ConfigError(f"device={original!r}: write cpu, or cpu:N / cpu,cpu for N CPU processes")
