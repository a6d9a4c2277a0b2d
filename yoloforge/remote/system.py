"""System samples for the platform: CPU, RAM and disk through psutil; NVIDIA GPUs through nvidia-ml-py.

GPU figures come only when an NVIDIA driver answers (NVML initialises); otherwise `gpus` is an empty list.
Units: percentages 0-100, memory and disk in GB (10^9 bytes), temperature in degrees C, power in W.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import psutil

GB = 1e9


class SystemSampler:
    """Takes samples; the first CPU figure is since this object was made (psutil measures between calls)."""

    def __init__(self, path: str = ".") -> None:
        self.path = path if os.path.exists(path) else "/"
        psutil.cpu_percent(interval=None)
        self._nvml = _init_nvml()

    def sample(self) -> dict[str, Any]:
        """{cpu %, ram %, ram_used_gb, disk: {used_gb, total_gb, percent}, gpus: [...]}."""
        vm = psutil.virtual_memory()
        disk = psutil.disk_usage(self.path)
        return {
            "cpu": psutil.cpu_percent(interval=None),
            "ram": vm.percent,
            "ram_used_gb": round(vm.used / GB, 3),
            "disk": {
                "used_gb": round(disk.used / GB, 3),
                "total_gb": round(disk.total / GB, 3),
                "percent": disk.percent,
            },
            "gpus": self._gpus(),
        }

    def _gpus(self) -> list[dict[str, Any]]:
        if self._nvml is None:
            return []
        nv = self._nvml
        out = []
        try:
            for i in range(nv.nvmlDeviceGetCount()):
                h = nv.nvmlDeviceGetHandleByIndex(i)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                util = nv.nvmlDeviceGetUtilizationRates(h)
                gpu: dict[str, Any] = {"index": i, "name": _text(nv.nvmlDeviceGetName(h)), "util": util.gpu}
                gpu["memory_used_gb"] = round(mem.used / GB, 3)
                gpu["memory_total_gb"] = round(mem.total / GB, 3)
                with contextlib.suppress(nv.NVMLError):
                    gpu["temp"] = nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)
                with contextlib.suppress(nv.NVMLError):
                    gpu["power_w"] = round(nv.nvmlDeviceGetPowerUsage(h) / 1000, 1)  # NVML reports milliwatts
                out.append(gpu)
        except nv.NVMLError:
            return out
        return out

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


def _init_nvml() -> Any:
    """The pynvml module, initialised, or None without an NVIDIA driver (or without nvidia-ml-py)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # no driver, no library, no device: nothing to sample
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
