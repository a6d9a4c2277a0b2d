"""Colour augmentation: HSV jitter through one 3-channel look-up table, and BGR/RGB swaps."""

from __future__ import annotations

import cv2
import numpy as np

from .instances import Sample


def hsv_jitter(img: np.ndarray, hue_shift: float, sat_gain: float, val_gain: float) -> np.ndarray:
    """Shift hue by hue_shift (fraction of the circle) and scale saturation and value.

    One cv2.LUT over the HSV image does all three channels: 256 entries each instead of float maths
    over every pixel. OpenCV's 8-bit hue runs 0..179, so the hue table wraps at 180.
    """
    x = np.arange(256, dtype=np.float32)
    lut = np.empty((256, 1, 3), np.uint8)
    lut[:, 0, 0] = np.round(x + hue_shift * 180.0) % 180
    lut[:, 0, 1] = np.clip(np.round(x * sat_gain), 0, 255)
    lut[:, 0, 2] = np.clip(np.round(x * val_gain), 0, 255)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    cv2.LUT(hsv, lut, dst=hsv)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


class RandomHSV:
    """Random hue shift in +/-hgain of the circle, saturation and value gains in 1 +/- sgain, vgain."""

    def __init__(self, hgain: float = 0.015, sgain: float = 0.7, vgain: float = 0.4) -> None:
        self.gains = np.array([hgain, sgain, vgain], np.float64)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if not self.gains.any():
            return sample
        dh, ds, dv = rng.uniform(-1.0, 1.0, 3) * self.gains
        return {**sample, "img": hsv_jitter(sample["img"], dh, 1.0 + ds, 1.0 + dv)}


class ChannelSwap:
    """Swap the B and R channels with probability p (the `bgr` setting).

    The loader always converts BGR to RGB for the model, so a swapped sample reaches it as BGR:
    robustness to channel order, as the setting intends.
    """

    def __init__(self, p: float = 0.0) -> None:
        self.p = p

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if self.p <= 0 or rng.random() >= self.p:
            return sample
        return {**sample, "img": cv2.cvtColor(sample["img"], cv2.COLOR_BGR2RGB)}
