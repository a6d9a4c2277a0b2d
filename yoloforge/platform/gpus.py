"""The GPU catalog: the types a job can run on (name, VRAM, speed label, hourly rate) and the executor pools
serving them, read from a YAML file (the packaged `gpus.yaml`, or `--gpu-catalog FILE`).

A type with no pool, or a pool the file does not define, stays in the catalog as unavailable: the user sees
it and why it cannot be picked here. A pool's capacity is its `capacity`, or the number of its `devices`
(one job per device, given to the worker as CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_CATALOG = Path(__file__).with_name("gpus.yaml")


class CatalogError(ValueError):
    """The catalog file is missing or invalid; the message names the file and the entry."""


class Pool(BaseModel):
    """Where jobs of a type run: `local` processes on this machine, or a Ray cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    executor: Literal["local", "ray"] = "local"
    capacity: int | None = Field(None, ge=0, description="Jobs at once; default: len(devices), else 1.")
    devices: list[str] = Field(default_factory=list, description="CUDA device ids, one job per device.")
    accelerator_type: str | None = Field(None, description="Ray: the accelerator_type (custom resource) asked for.")
    num_gpus: float = Field(0, ge=0, description="Ray: GPUs per job.")
    num_cpus: float = Field(1, ge=0, description="Ray: CPUs per job.")
    resources: dict[str, float] = Field(default_factory=dict, description="Ray: custom resources per job.")

    @property
    def slots(self) -> int:
        """How many jobs the pool runs at once."""
        if self.capacity is not None:
            return self.capacity
        return len(self.devices) or 1


class GpuType(BaseModel):
    """One type in the catalog; `hourly_usd` is a Decimal (USD per hour, exact)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$")
    label: str = ""
    vram_gb: float = Field(ge=0)
    speed: str = ""
    hourly_usd: Decimal = Field(ge=0)
    pool: str | None = None
    peak_tflops: float | None = Field(
        None, gt=0, description="Datasheet dense FP16 TFLOP/s, for cost estimates (default: a table by name)."
    )

    @property
    def free(self) -> bool:
        return self.hourly_usd == 0


class Catalog(BaseModel):
    """Pools by name and types in display order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pools: dict[str, Pool] = Field(default_factory=dict)
    types: list[GpuType]

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        seen: set[str] = set()
        for t in self.types:
            if t.name in seen:
                raise ValueError(f"GPU type {t.name!r} is listed twice")
            seen.add(t.name)
        for name, pool in self.pools.items():
            if pool.executor == "ray" and pool.devices:
                raise ValueError(f"pool {name!r}: a Ray pool has no devices (Ray places jobs)")
        return self

    def get(self, name: str) -> GpuType | None:
        return next((t for t in self.types if t.name == name), None)

    def pool_of(self, gpu: GpuType) -> Pool | None:
        """The pool serving `gpu`, or None when it is unavailable on this installation."""
        if gpu.pool is None or gpu.pool not in self.pools:
            return None
        return self.pools[gpu.pool].model_copy(update={"name": gpu.pool})

    def available(self, gpu: GpuType) -> bool:
        return self.pool_of(gpu) is not None

    def names(self) -> list[str]:
        return [t.name for t in self.types]


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog in `path` (default: the packaged gpus.yaml); CatalogError names the file and the entry."""
    path = Path(path) if path is not None else DEFAULT_CATALOG
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise CatalogError(f"GPU catalog {path}: cannot be read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise CatalogError(f"GPU catalog {path}: not valid YAML ({e})") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"GPU catalog {path}: expected a mapping with 'pools' and 'types'")
    try:
        return Catalog.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise CatalogError(f"GPU catalog {path}: {where}: {first['msg']}") from None
