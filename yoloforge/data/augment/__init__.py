"""Train-time augmentation and letterboxing.

A sample is a dict: "img" HxWx3 uint8 BGR (C-contiguous), "cls" (n,) int64, "bboxes" (n, 4) float32
xyxy in pixels of the current image, "segments" a list of (k, 2) float32 polygons (one per box) or [],
plus "im_file", "ori_shape" (h0, w0) and "resized_shape" (h, w). Every transform is a callable
`t(sample, rng) -> sample` drawing only from the numpy Generator passed in, and never writes into the
arrays it receives.
"""

from .color import ChannelSwap, RandomHSV, hsv_jitter
from .compose import Compose, build_train_transforms, build_val_transforms
from .geometric import RandomFlip, RandomPerspective, flip_sample, transform_labels, warp_image
from .letterbox import LetterBox, letterbox
from .mix import CopyPaste, CutMix, MixUp, Mosaic, SampleSource

__all__ = [
    "ChannelSwap",
    "Compose",
    "CopyPaste",
    "CutMix",
    "LetterBox",
    "MixUp",
    "Mosaic",
    "RandomFlip",
    "RandomHSV",
    "RandomPerspective",
    "SampleSource",
    "build_train_transforms",
    "build_val_transforms",
    "flip_sample",
    "hsv_jitter",
    "letterbox",
    "transform_labels",
    "warp_image",
]
