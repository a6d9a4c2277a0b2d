"""Predict mode: letterbox, forward, NMS and rescale, one batch at a time, yielding `Results`.

`predict(model, cfg, source)` is what the facade and the CLI call. Settings the user did not give take
predict's own defaults rather than the schema's (which are training's): conf 0.25, batch 1 and save False.
Images are read lazily, so `stream=True` over a large folder holds one batch of pixels at a time.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from yoloforge.cfg.schema import RunConfig
from yoloforge.data.augment.letterbox import letterbox
from yoloforge.engine.devices import select_devices
from yoloforge.engine.predict.results import Results
from yoloforge.engine.predict.sources import ImageSource, SourceError, load_source
from yoloforge.engine.run_dir import run_dir
from yoloforge.errors import ConfigError
from yoloforge.utils.boxes import RatioPad, scale_boxes
from yoloforge.utils.log import LOGGER
from yoloforge.utils.nms import non_max_suppression

DEFAULT_CONF = 0.25
_STAGES = ("preprocess", "inference", "postprocess")


def predict_settings(cfg: RunConfig) -> tuple[float, int, bool]:
    """(conf, batch, save) for predict: the user's values, else predict's defaults (0.25, 1, False)."""
    given = cfg.model_fields_set
    conf = cfg.conf if cfg.conf is not None else DEFAULT_CONF
    batch = cfg.batch if "batch" in given else 1
    if isinstance(batch, float) or batch < 1:
        raise ConfigError(f"batch={batch}: predict needs a whole number of images per batch (>= 1), e.g. batch=8")
    return conf, int(batch), bool(cfg.save) if "save" in given else False


def preprocess(
    imgs: Sequence[np.ndarray], imgsz: int | Sequence[int], stride: int
) -> tuple[torch.Tensor, list[RatioPad]]:
    """Letterbox BGR images into one float RGB NCHW batch in 0..1, with each image's RatioPad.

    Images of one shape get the minimal stride-multiple padding (rectangular inference); a batch of mixed
    shapes is padded to the full square (or [h, w]) imgsz so the images stack.
    """
    auto = len({im.shape[:2] for im in imgs}) == 1
    boxed, ratio_pad = [], []
    for im in imgs:
        out, placed = letterbox(im, imgsz, auto=auto, stride=stride)
        boxed.append(out)
        ratio_pad.append(placed)
    batch = np.stack(boxed)[..., ::-1].transpose(0, 3, 1, 2)  # BGR -> RGB, NHWC -> NCHW
    return torch.from_numpy(np.ascontiguousarray(batch)).float().div_(255), ratio_pad


@dataclass
class _Speed:
    """Milliseconds spent per stage, summed over every image of the run."""

    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_STAGES, 0.0))
    images: int = 0

    def add(self, per_image: dict[str, float], n: int) -> None:
        for k in _STAGES:
            self.totals[k] += per_image[k] * n
        self.images += n

    def line(self, shape: tuple[int, ...]) -> str:
        avg = {k: v / max(self.images, 1) for k, v in self.totals.items()}
        return (
            f"Speed: {avg['preprocess']:.1f} ms preprocess, {avg['inference']:.1f} ms inference, "
            f"{avg['postprocess']:.1f} ms postprocess per image (last batch shape {shape})"
        )


class Predictor:
    """Runs a detection model over a source with the settings of one `RunConfig`."""

    def __init__(self, model: nn.Module, cfg: RunConfig, save_dir: Path | None = None) -> None:
        model = getattr(model, "model", model) if not isinstance(model, nn.Module) else model  # a YOLO facade
        self.cfg = cfg
        self.conf, self.batch, save = predict_settings(cfg)
        self.save_img = save
        self.save_txt = bool(cfg.save_txt)
        self.device = select_devices(cfg.device)[0]
        self.half = bool(cfg.half) and self.device.type == "cuda"
        if cfg.half and not self.half:
            LOGGER.warning("half=True needs a CUDA device; predicting in float32 on %s", self.device)
        self.model = model
        self.names: dict[int, str] = dict(model.names)
        self.stride = int(model.stride.max().item()) if hasattr(model, "stride") else 32
        self.save_dir = Path(save_dir) if save_dir is not None else None
        self._used_names: set[str] = set()

    def stream(self, source: Any) -> Iterator[Results]:
        """Resolve the source now (bad sources fail at once), then yield Results as batches finish."""
        src = load_source(source)
        return self._run(src)

    def __call__(self, source: Any, stream: bool = False) -> list[Results] | Iterator[Results]:
        gen = self.stream(source)
        return gen if stream else list(gen)

    def _run(self, src: ImageSource) -> Iterator[Results]:
        was_training = self.model.training
        net = self._prepare()
        speed, shape, done = _Speed(), (), 0
        try:
            for batch in src.batches(self.batch):
                results, shape = self._infer(net, batch)
                speed.add(results[0].speed, len(results))
                for r in results:
                    done += 1
                    self._write(r)
                    self._log_image(r, done, len(src))
                    yield r
        finally:
            self.model.train(was_training)
        self._finish(src, speed, shape)

    def _prepare(self) -> nn.Module:
        """The model on the device in eval mode; a half-precision copy with half=True (the caller's stays fp32)."""
        self.model.to(self.device)
        net = copy.deepcopy(self.model).half() if self.half else self.model
        return net.eval()

    def _sync(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    @torch.no_grad()  # not inference_mode: users may edit the returned tensors in place
    def _infer(self, net: nn.Module, batch: list[tuple[str, np.ndarray]]) -> tuple[list[Results], tuple[int, ...]]:
        """One batch through preprocess, the model and NMS; boxes end in each original image's pixels."""
        cfg, dtype = self.cfg, (torch.float16 if self.half else torch.float32)
        t0 = self._sync()
        x, ratio_pad = preprocess([im for _, im in batch], cfg.imgsz, self.stride)
        x = x.to(self.device, dtype, non_blocking=True)
        t1 = self._sync()
        pred = net(x)
        pred = (pred[0] if isinstance(pred, (list, tuple)) else pred).float()
        t2 = self._sync()
        dets = non_max_suppression(
            pred, self.conf, cfg.iou, cfg.classes, cfg.agnostic_nms, multi_label=False, max_det=cfg.max_det
        )
        results = []
        for (name, im), det, placed in zip(batch, dets, ratio_pad, strict=True):
            det[:, :4] = scale_boxes(det[:, :4], x.shape[2:], im.shape[:2], ratio_pad=placed)
            results.append(Results(im, name, self.names, det))
        t3 = self._sync()
        n = len(batch)
        per_image = {k: (b - a) * 1000 / n for k, a, b in zip(_STAGES, (t0, t1, t2), (t1, t2, t3), strict=True)}
        for r in results:
            r.speed = dict(per_image)
        return results, tuple(x.shape)

    def _folder(self) -> Path:
        if self.save_dir is None:
            self.save_dir = run_dir(self.cfg, "predict")
        return self.save_dir

    def _unique_name(self, path: str) -> str:
        """The image's file name, numbered when two inputs share one (a.jpg, a_2.jpg) so none is overwritten."""
        p = Path(path)
        name, n = p.name, 2
        while name in self._used_names:
            name, n = f"{p.stem}_{n}{p.suffix}", n + 1
        self._used_names.add(name)
        return name

    def _write(self, r: Results) -> None:
        if not (self.save_img or self.save_txt):
            return
        folder, name = self._folder(), self._unique_name(r.path)
        if self.save_img:
            cfg = self.cfg
            r.save(folder / name, line_width=cfg.line_width, labels=cfg.show_labels, conf=cfg.show_conf)
        if self.save_txt:
            r.save_txt(folder / "labels" / (Path(name).stem + ".txt"), save_conf=self.cfg.save_conf)

    def _log_image(self, r: Results, i: int, total: int) -> None:
        if self.cfg.verbose:
            h, w = r.orig_shape
            LOGGER.info("%d/%d %s (%dx%d): %s, %.1f ms", i, total, r.path, w, h, r.verbose(), r.speed["inference"])

    def _finish(self, src: ImageSource, speed: _Speed, shape: tuple[int, ...]) -> None:
        """The closing lines: skipped files, speed per image, where the files went."""
        if src.skipped:
            LOGGER.warning("%d of %d images could not be read and were skipped", len(src.skipped), len(src))
        if not speed.images:
            raise SourceError(f"no readable image in source {src.description!r} ({len(src.skipped)} skipped)")
        LOGGER.info(speed.line(shape))
        if self.save_dir is not None and (self.save_img or self.save_txt):
            what = "images and labels" if self.save_img and self.save_txt else "labels" if self.save_txt else "images"
            LOGGER.info("Results (%s) saved to %s", what, self.save_dir)


def predict(
    model: Any, cfg: RunConfig, source: Any = None, *, stream: bool = False, save_dir: Path | None = None
) -> list[Results] | Iterator[Results]:
    """Detect objects in `source` (cfg.source when None) with `model` (a DetectionModel or a YOLO).

    Returns a list of Results, or with `stream=True` a generator yielding them as they are made (the way to
    go over large folders: one batch of images is held at a time). With cfg.save / cfg.save_txt set, writes
    annotated images and YOLO label files into a run folder (runs/detect/predict, predict2, ...) or `save_dir`.
    """
    predictor = Predictor(model, cfg, save_dir=save_dir)
    return predictor(source if source is not None else cfg.source, stream=stream)
