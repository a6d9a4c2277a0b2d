"""The `YOLO` facade: one object to build, load, inspect, train, validate, predict and export.

from yoloforge import YOLO
model = YOLO("yolo11n.yaml")        # a fresh model from a packaged architecture
model = YOLO("runs/detect/train/weights/last.pt")   # ours, or a checkpoint written by Ultralytics 8.x
model = YOLO("yolo11n.pt")          # Ultralytics' pretrained weights by name (downloaded once, see nn.pretrained)
model.info()

Messages (training progress, validation tables, "Results saved to") go to the `yoloforge` logger; the
application's logging configuration is respected, and a script that configured none still sees them on
stderr (see yoloforge.utils.log).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from yoloforge.cfg.resolve import resolve
from yoloforge.errors import ConfigError
from yoloforge.utils.log import LOGGER, api_logging

if TYPE_CHECKING:
    from yoloforge.nn.model import DetectionModel, ModelInfo

_YAML = (".yaml", ".yml")


class YOLO:
    """A detection model plus the settings it was made with."""

    def __init__(self, model: str | Path = "yolo11n.yaml", task: str = "detect") -> None:
        _check_task(task)
        from yoloforge.engine.callbacks import Callbacks
        from yoloforge.nn.builder import build_model
        from yoloforge.nn.checkpoint import load_checkpoint, model_from_checkpoint
        from yoloforge.nn.pretrained import resolve_weights

        api_logging()
        self.source = str(model)
        self.task = task
        self.ckpt: dict[str, Any] | None = None
        self.transferred: tuple[int, int] | None = None
        self.save_dir: Path | None = None
        self.origin = "call"  # where settings come from, for error messages (the CLI says "command line")
        self.callbacks = Callbacks()
        from yoloforge.engine.export.runtime import ExportedModel, is_exported, load_backend

        suffix = Path(self.source).suffix.lower()
        self.exported = is_exported(self.source)
        if self.exported:
            self.model = ExportedModel(load_backend(self.source))  # type: ignore[assignment]
        elif suffix in _YAML:
            self.model: DetectionModel = build_model(self.source)
        elif suffix == ".pt":
            self.source = str(resolve_weights(self.source))  # yolo11n.pt: the weights folder, or a download
            self.ckpt = load_checkpoint(self.source)
            self.model = model_from_checkpoint(self.ckpt)
        else:
            raise ConfigError(
                f"model={self.source!r}: expected an architecture YAML (e.g. yolo11n.yaml) or a checkpoint (.pt)"
            )

    @property
    def names(self) -> dict[int, str]:
        """Class id -> name."""
        return self.model.names

    def load(self, weights: str | Path) -> YOLO:
        """Copy every tensor whose name and shape match from a checkpoint; log how many."""
        from yoloforge.engine.train.setup import transfer
        from yoloforge.nn.checkpoint import load_checkpoint
        from yoloforge.nn.pretrained import resolve_weights

        path = resolve_weights(weights)
        self.transferred = transfer(self.model, load_checkpoint(path)["model"]["state_dict"], str(path))
        return self

    def info(self, imgsz: int = 640, verbose: bool = True) -> ModelInfo:
        """Print and return layers, parameters and GFLOPs (at imgsz x imgsz, 640 unless given; the size is printed)."""
        if self.exported:
            raise ConfigError(f"{self.source} is an exported model: info needs the .pt checkpoint it came from")
        return self.model.info(imgsz=imgsz, verbose=verbose)

    def fuse(self) -> YOLO:
        """Fold BatchNorm into convolutions for faster inference."""
        self.model.fuse()
        return self

    def save(self, path: str | Path) -> Path:
        """Write the model as a yoloforge checkpoint (also converts an imported Ultralytics one)."""
        from yoloforge.nn.checkpoint import build_checkpoint, save_checkpoint

        extra = {"args": dict(self.ckpt.get("args", {}))} if self.ckpt else {}
        return save_checkpoint(build_checkpoint(self.model, **extra), path)

    def _settings(self, mode: str, overrides: dict[str, Any]) -> Any:
        """Validate the call's settings over the checkpoint's saved args (same rules as the CLI)."""
        if self.exported and mode in ("train", "export"):
            raise ConfigError(f"{self.source} is an exported model: {mode} needs the .pt checkpoint it came from")
        _check_task(overrides.get("task", "detect"))
        api_logging(overrides.get("verbose", True) is not False)
        saved = {k: v for k, v in (self.ckpt or {}).get("args", {}).items() if k in _REUSED_ARGS}
        if self.exported:
            h, w = self.model.backend.imgsz
            saved["imgsz"] = h if h == w else [h, w]
        return resolve(("checkpoint args", saved), (self.origin, {**overrides, "mode": mode, "model": self.source}))

    def add_callback(self, event: str, fn: Any) -> None:
        """Subscribe `fn(trainer)` to a training event (see yoloforge.engine.callbacks.EVENTS)."""
        self.callbacks.add(event, fn)

    def train(self, **kwargs: Any) -> Any:
        """Train on `data=...`; returns the final validation of best.pt: the same metrics object as `val()`.

        That object has `.box.map`, `.box.map50`, `.results_dict` (results.csv names) and `.save_dir`, and
        `metrics["metrics/mAP50-95(B)"]` still reads results_dict (train() returned that dict before). After
        multi-GPU training it comes without `curves` and `confusion_matrix` (their plots are in the run folder).
        `resume=True` continues the run whose last.pt this YOLO was loaded from (or `resume=path`). After a
        graceful stop (SIGTERM, Ctrl-C, `trainer.request_stop()`) raises `TrainingStopped`; the run is resumable.
        `pretrained=yolo11n.pt` starts a YAML model from published weights by name (see nn.pretrained).
        """
        from yoloforge.engine.launch import run_training
        from yoloforge.nn.pretrained import resolve_weights

        if kwargs.get("resume"):
            if kwargs["resume"] is True and self.ckpt is None:
                raise ConfigError(f"resume=True continues a run from its last.pt, but this model comes from "
                                  f"{self.source}: use YOLO('path/to/weights/last.pt').train(resume=True)")  # fmt: skip
            api_logging(kwargs.get("verbose", True) is not False)
            return _with_save_dir(self._resume(kwargs), self.save_dir)
        cfg = self._settings("train", kwargs).config
        if isinstance(cfg.pretrained, str):  # pretrained=yolo11n.pt: the weights folder, or a download
            cfg = cfg.model_copy(update={"pretrained": str(resolve_weights(cfg.pretrained))})
        weights = self.model.state_dict() if (self.ckpt is not None or self.transferred) else None
        arch = self.model.yaml if self.ckpt is not None else None  # already loaded: no second read of the .pt
        metrics, save_dir = run_training(cfg, callbacks=self.callbacks, weights=weights, arch=arch)
        self._adopt(save_dir)
        return _with_save_dir(metrics, save_dir)

    def _resume(self, kwargs: dict[str, Any]) -> Any:
        from yoloforge.engine.launch import run_training
        from yoloforge.engine.train.resume import check_resumable, finished, resume_config, resume_dir
        from yoloforge.nn.checkpoint import load_checkpoint

        path = Path(kwargs["resume"] if isinstance(kwargs["resume"], str) else self.source)
        ckpt = self.ckpt if path == Path(self.source) and self.ckpt else load_checkpoint(path)
        check_resumable(ckpt, path)
        cfg = resume_config(ckpt, path, kwargs)
        if finished(ckpt, cfg):
            LOGGER.info("%s is from a finished run (epoch %d of %d): nothing to resume. To train longer, pass "
                        "a larger epochs=.", path, ckpt["epoch"] + 1, cfg.epochs)  # fmt: skip
            return dict(ckpt.get("train_metrics") or {})
        save_dir = resume_dir(ckpt, path)
        metrics, save_dir = run_training(cfg, callbacks=self.callbacks, resume_ckpt=ckpt, save_dir=save_dir)
        self._adopt(save_dir)
        return metrics

    def _adopt(self, save_dir: Path) -> None:
        """After training, this YOLO holds the best weights (as Ultralytics' facade does)."""
        from yoloforge.nn.checkpoint import load_checkpoint, model_from_checkpoint

        self.save_dir = save_dir
        best = save_dir / "weights" / "best.pt"
        if best.exists():
            self.source, self.ckpt = str(best), load_checkpoint(best)
            self.model = model_from_checkpoint(self.ckpt)

    def val(self, **kwargs: Any) -> Any:
        """Validate on `data=` (split `val` by default); returns metrics (box.map, box.map50, results_dict ...)."""
        from yoloforge.engine.val.mode import validate

        return validate(self.model, self._settings("val", kwargs).config)

    def predict(self, source: Any = None, stream: bool = False, **kwargs: Any) -> Any:
        """Detect objects in `source` (image, video, http(s) URL, folder, glob, .txt, array, PIL, list).

        Returns a list of Results (one per image or video frame; `save_dir` says where files went); with
        stream=True a generator of them. save=True writes annotated images/videos, save_txt=True label files,
        save_crop=True each box as an image under crops/<class name>/.
        """
        from yoloforge.engine.predict.predictor import predict

        return predict(self.model, self._settings("predict", kwargs).config, source, stream=stream)

    __call__ = predict

    def export(self, **kwargs: Any) -> Path:
        """Write the model as torchscript (default), onnx or openvino next to its checkpoint; returns the path."""
        from yoloforge.engine.export.exporter import export_model

        return export_model(self, self._settings("export", kwargs).config)

    def __repr__(self) -> str:
        return f"YOLO({self.source!r}: {getattr(self.model, 'display_name', 'exported')}, nc={self.model.nc})"


# Saved training args that sensibly carry over to val/predict on the same checkpoint.
_REUSED_ARGS = ("imgsz", "data", "single_cls")


def _check_task(task: Any) -> None:
    if task != "detect":
        raise ConfigError(f"task={task}: yoloforge trains, validates and predicts detect models only")


def _with_save_dir(metrics: Any, save_dir: Path | None) -> Any:
    """The final metrics object, told which run folder it belongs to (None when nothing was trained)."""
    if metrics is not None and hasattr(metrics, "save_dir"):
        metrics.save_dir = save_dir
    return metrics
