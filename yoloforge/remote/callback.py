"""The platform subscriber: streams a training run to a yoloforge platform server through the trainer's callbacks.

It turns on when the run has `project=OWNER/PROJECT` (exactly one `/`) and an API key is known (see
`auth.platform_credentials`); the trainer knows nothing of it. Only the main process streams. Locally nothing
changes but a `platform/` folder in the run folder (the spool and `run.json`).

What is sent: a start event (settings, environment, model size and GFLOPs, dataset summary), every epoch's
results.csv row with fitness and best fitness, batch progress at most once a second, console lines and system
samples (by the sender thread), checkpoints (last and best when they changed, at most every
`YOLOFORGE_PLATFORM_CHECKPOINT_SECONDS`, default 300, and the final ones) and an end event (`completed` with
the final metrics, `stopped` after a graceful stop, `failed` with the error text).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from yoloforge.remote.auth import PlatformCredentials, platform_credentials
from yoloforge.utils.log import LOGGER

MODEL_ENV = "YOLOFORGE_PLATFORM_MODEL"
CHECKPOINT_ENV = "YOLOFORGE_PLATFORM_CHECKPOINT_SECONDS"
FLUSH_ENV = "YOLOFORGE_PLATFORM_FLUSH_SECONDS"
POLL_ENV = "YOLOFORGE_PLATFORM_POLL_SECONDS"


def project_parts(project: str | None) -> tuple[str, str] | None:
    """('owner', 'project') when `project` has the platform form OWNER/PROJECT, else None."""
    if not project or project.count("/") != 1 or project.startswith(("/", ".", "~")):
        return None
    owner, name = project.split("/")
    return (owner, name) if owner and name else None


def register_platform(callbacks: Any, cfg: Any) -> PlatformCallback | None:
    """Subscribe the platform client to `callbacks` when `cfg` names a platform project and a key is known."""
    parts = project_parts(getattr(cfg, "project", None))
    if parts is None:
        return None
    creds = platform_credentials()
    if creds is None:
        return None
    for fn in callbacks.subscribers("on_pretrain_routine_end"):
        if isinstance(getattr(fn, "__self__", None), PlatformCallback):
            return fn.__self__  # registered already
    sub = PlatformCallback(creds, f"{parts[0]}/{parts[1]}")
    for event in ("on_pretrain_routine_end", "on_train_epoch_end", "on_train_batch_end", "on_fit_epoch_end",
                  "on_model_save", "on_train_end", "teardown"):  # fmt: skip
        callbacks.add(event, getattr(sub, event))
    return sub


class PlatformCallback:
    """One run's subscriber (see the module docstring)."""

    def __init__(self, creds: PlatformCredentials, project: str) -> None:
        self.creds, self.project = creds, project
        self.client: Any = None
        self.spool: Any = None
        self.console: Any = None
        self.trainer: Any = None
        self.ended = False
        self.last_progress = 0.0
        self.ckpt_seconds = float(os.environ.get(CHECKPOINT_ENV, 300))
        self.last_ckpt = time.monotonic()
        self.sent_files: dict[str, tuple[int, int]] = {}

    # --- events ---------------------------------------------------------------------------------------
    def on_pretrain_routine_end(self, trainer: Any) -> None:
        if not trainer.ctx.is_main:
            return
        from yoloforge.remote.client import StreamClient
        from yoloforge.remote.console import ConsoleCapture
        from yoloforge.remote.spool import Spool
        from yoloforge.remote.system import SystemSampler

        self.trainer = trainer
        folder = Path(trainer.save_dir) / "platform"
        model_id, resumed = self._known_model(trainer, folder)
        name = trainer.cfg.name or Path(trainer.save_dir).name
        self.spool = Spool(folder / "spool", uuid.uuid4().hex, self.project, _model_name(name))
        self.console = ConsoleCapture(LOGGER)
        self.spool.put("start", {**self._start_data(trainer), "model_id": model_id, "resumed": resumed})
        self.client = StreamClient(self.creds.url, self.creds.key, self.spool, on_command=self._on_command,
                                   console=self.console, sampler=SystemSampler(str(trainer.save_dir)),
                                   poll_seconds=float(os.environ.get(POLL_ENV, 2.0)))  # fmt: skip
        self.client.start()
        trainer.extra["platform"] = {"url": self.creds.url, "model_id": model_id}
        LOGGER.info("platform: streaming this run to %s (project %s)", self.creds.url, self.project)

    def on_train_batch_end(self, trainer: Any) -> None:
        if self.client is None or time.monotonic() - self.last_progress < 1.0:
            return
        self.last_progress = time.monotonic()
        self._remember_model(trainer)
        losses = dict(
            zip(("box_loss", "cls_loss", "dfl_loss"), (float(x) for x in trainer.tloss.tolist()), strict=False)
        )
        self._put("progress", {"epoch": trainer.epoch, "epochs": trainer.epochs, "batch": trainer.batch_i + 1,
                               "batches": trainer.nb, "losses": losses})  # fmt: skip

    def on_train_epoch_end(self, trainer: Any) -> None:
        if self.client is not None:
            self._remember_model(trainer)  # before the epoch's last.pt is written

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if self.client is None:
            return
        row = dict(trainer.rows[-1]) if getattr(trainer, "rows", None) else {}
        seconds = row.pop("time", None)
        row.pop("epoch", None)
        metrics = {**row, "fitness": getattr(trainer, "fitness", None), "best_fitness": trainer.best_fitness}
        self._put("epoch", {"epoch": trainer.epoch, "metrics": _finite(metrics), "seconds": seconds,
                            "epochs": trainer.epochs})  # fmt: skip

    def on_model_save(self, trainer: Any) -> None:
        if self.client is not None and time.monotonic() - self.last_ckpt >= self.ckpt_seconds:
            self._checkpoints(trainer, ("last", "best"))

    def on_train_end(self, trainer: Any) -> None:
        if self.client is None:
            return
        self._checkpoints(trainer, ("best", "last"), force=True)
        final = _finite(dict(trainer.final_metrics or {}))
        self._end("completed", final_metrics=final, best_epoch=trainer.best_epoch,
                  best_fitness=trainer.best_fitness, names=_names(trainer))  # fmt: skip

    def teardown(self, trainer: Any) -> None:
        if self.client is None:
            return
        if not self.ended:
            from yoloforge.engine.train.stop import TrainingStopped

            error = sys.exc_info()[1]
            if isinstance(error, TrainingStopped):
                self._checkpoints(trainer, ("last",), force=True)
                self._end("stopped", where=error.where)
            else:
                self._end("failed", error=f"{type(error).__name__}: {error}" if error else "ended without a result")
        self._close()

    # --- helpers --------------------------------------------------------------------------------------
    def _put(self, kind: str, data: dict[str, Any]) -> None:
        if self.spool.put(kind, data) is not None:
            self.client.notify()

    def _end(self, status: str, **data: Any) -> None:
        self.ended = True
        if lines := self.console.drain():
            self.spool.put("console", {"lines": lines})
        self._put("end", {"status": status, **data})

    def _close(self) -> None:
        self.console.close()
        timeout = float(os.environ.get(FLUSH_ENV, 30.0))
        drained = self.client.close(timeout)
        self._remember_model(self.trainer)
        if self.client.model_url:
            LOGGER.info("platform: %s%s", self.creds.url, self.client.model_url)
        if not drained:
            LOGGER.warning("platform: %d event(s) could not be sent yet (%d failed request(s)); they are kept in %s "
                           "and sent when a run in this folder is resumed or by `yoloforge sync`", self.spool.waiting(),
                           self.client.failed_total, self.spool.root)  # fmt: skip

    def _on_command(self, command: str) -> None:
        if command == "stop" and self.trainer is not None:
            self.trainer.request_stop()

    def _remember_model(self, trainer: Any) -> None:
        """Keep the server's model id in last.pt (`extra`) and in the run folder, for resume."""
        if self.client is None or self.client.model_id is None:
            return
        info = {"url": self.creds.url, "model_id": self.client.model_id, "model": self.client.model_name}
        if trainer.extra.get("platform") != info:
            trainer.extra["platform"] = info
            path = Path(trainer.save_dir) / "platform" / "run.json"
            path.write_text(json.dumps(info))

    def _known_model(self, trainer: Any, folder: Path) -> tuple[int | None, bool]:
        """(the model this run continues, whether it is a resume): YOLOFORGE_PLATFORM_MODEL, else last.pt's
        `extra`, else the run folder's run.json (same server only)."""
        if os.environ.get(MODEL_ENV, "").isdigit():
            return int(os.environ[MODEL_ENV]), bool(trainer.start_epoch)
        info = trainer.extra.get("platform") or {}
        if not info and trainer.start_epoch and (folder / "run.json").is_file():
            info = json.loads((folder / "run.json").read_text())
        if info.get("url") == self.creds.url and info.get("model_id"):
            return int(info["model_id"]), True
        return None, False

    def _checkpoints(self, trainer: Any, kinds: tuple[str, ...], force: bool = False) -> None:
        self.last_ckpt = time.monotonic()
        for kind in kinds:
            path = Path(trainer.wdir) / f"{kind}.pt"
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            stamp = (st.st_ino, st.st_mtime_ns)
            if self.sent_files.get(kind) == stamp:
                continue  # unchanged since it was last sent
            blob = self.spool.add_blob(path, f"{uuid.uuid4().hex[:12]}-{kind}.pt")
            if blob is not None:
                self.sent_files[kind] = stamp
                self._put("checkpoint", {"blob": blob.name, "kind": kind, "epoch": trainer.epoch})

    def _start_data(self, trainer: Any) -> dict[str, Any]:
        from yoloforge import __version__

        model = trainer.model
        info: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters())}
        try:
            info["gflops"] = round(float(model.flops(trainer.cfg.imgsz)), 3)
        except Exception:  # GFLOPs are informative only
            info["gflops"] = None
        import torch

        env = {"yoloforge": __version__, "python": platform.python_version(), "torch": torch.__version__,
               "os": platform.platform(), "host": platform.node(), "device": str(trainer.device),
               "cpus": os.cpu_count()}  # fmt: skip
        data = trainer.data
        dataset = {"ref": str(trainer.cfg.data), "nc": data.nc, "names": {str(k): v for k, v in data.names.items()},
                   "train_images": len(trainer.train_loader.dataset)}  # fmt: skip
        settings = trainer.cfg.model_dump(mode="json")
        return {"settings": settings, "environment": env, "model_info": info, "dataset": dataset,
                "epochs": trainer.epochs, "start_epoch": trainer.start_epoch,
                "save_dir": str(trainer.save_dir)}  # fmt: skip


def _names(trainer: Any) -> list[str]:
    names = getattr(trainer.data, "names", {}) or {}
    return [names[k] for k in sorted(names)]


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: such numbers become None."""
    out = {}
    for k, v in values.items():
        if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            v = None
        out[k] = v
    return out


def _model_name(name: str) -> str:
    import re

    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "train"
    return clean[:64] if clean[0].isalnum() else f"m{clean}"[:64]
