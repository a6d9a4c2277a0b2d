"""Pipelines: the train-time chain built from the run settings, and the validation letterbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .color import ChannelSwap, RandomHSV
from .geometric import RandomFlip, RandomPerspective
from .instances import Sample
from .letterbox import LetterBox
from .mix import CopyPaste, CutMix, MixUp, Mosaic, SampleSource, Transform

if TYPE_CHECKING:
    from yoloforge.cfg.schema import RunConfig


class Compose:
    """Transforms applied in order, all drawing from the one generator passed in."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for t in self.transforms:
            sample = t(sample, rng)
        return sample

    def set_mix(self, enabled: bool) -> None:
        """Turn the transforms that draw other images (mosaic, mixup, cutmix, copy-paste 'mixup') on/off."""
        for t in self.transforms:
            if hasattr(t, "set_mix"):
                t.set_mix(enabled)

    def close_mosaic(self) -> None:
        """For the final epochs: plain (letterbox + affine) + colour + flip from now on."""
        self.set_mix(False)

    def __repr__(self) -> str:
        return f"Compose({', '.join(type(t).__name__ for t in self.transforms)})"


def build_train_transforms(cfg: RunConfig, imgsz: int, source: SampleSource, rect: bool | None = None) -> Compose:
    """The train chain; a transform whose probability or gains are 0 is left out (or skips its work).

    Order: mosaic-or-affine (one warp to imgsz x imgsz), copy-paste, mixup, cutmix, HSV, flips, bgr.
    Rectangular training (`rect`, default cfg.rect) leaves out the mosaic/affine stage and the
    transforms that mix in other images: its batches letterbox whole images to the batch shape
    first, and only shape-keeping transforms (flip copy-paste, colour, flips) may follow.
    """
    rect = cfg.rect if rect is None else rect
    ts: list[Transform] = []
    if rect:
        if cfg.copy_paste > 0 and cfg.copy_paste_mode == "flip":
            ts.append(CopyPaste(cfg.copy_paste, "flip"))
    else:
        affine = RandomPerspective(
            degrees=cfg.degrees,
            translate=cfg.translate,
            scale=cfg.scale,
            shear=cfg.shear,
            perspective=cfg.perspective,
            imgsz=imgsz,
        )
        stage = Mosaic(source, imgsz, affine, p=cfg.mosaic)
        ts.append(stage)
        if cfg.copy_paste > 0:
            ts.append(CopyPaste(cfg.copy_paste, cfg.copy_paste_mode, source, stage))
        if cfg.mixup > 0:
            ts.append(MixUp(source, stage, p=cfg.mixup))
        if cfg.cutmix > 0:
            ts.append(CutMix(source, stage, p=cfg.cutmix))
    if cfg.hsv_h or cfg.hsv_s or cfg.hsv_v:
        ts.append(RandomHSV(cfg.hsv_h, cfg.hsv_s, cfg.hsv_v))
    if cfg.flipud > 0:
        ts.append(RandomFlip(cfg.flipud, "vertical"))
    if cfg.fliplr > 0:
        ts.append(RandomFlip(cfg.fliplr, "horizontal"))
    if cfg.bgr > 0:
        ts.append(ChannelSwap(cfg.bgr))
    return Compose(ts)


def build_val_transforms(imgsz: int, *, auto: bool = False, stride: int = 32) -> Compose:
    """Letterbox to imgsz (never enlarging); rect batches set each sample's "rect_shape"."""
    return Compose([LetterBox(imgsz, auto=auto, scaleup=False, stride=stride)])
