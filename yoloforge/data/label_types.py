"""What label verification hands on: the verified labels of one image, and the report of a split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)  # eq=False: arrays make field-wise == ambiguous
class ImageLabels:
    """The verified labels of one image (an image without rows is a background)."""

    im_file: str
    shape: tuple[int, int]  # (h, w) after EXIF orientation
    cls: np.ndarray  # (n,) int64 class ids
    bboxes: np.ndarray  # (n, 4) float32 normalised xywh (centre x, centre y, w, h)
    segments: tuple[np.ndarray, ...] = ()  # per row (k, 2) float32 polygon when any row had one


@dataclass(frozen=True)
class LabelReport:
    """What verification kept, skipped and fixed; `messages` has one line per defect."""

    images: int
    backgrounds: int
    instances: int
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> images dropped
    fixed: dict[str, int] = field(default_factory=dict)  # kind -> rows changed or removed
    messages: tuple[str, ...] = ()
    prefix: str = ""  # the split's name, leading the summary

    def summary(self) -> str:
        """One line for the log, e.g. 'train: 128 images, 2 backgrounds, 929 instances; skipped 3 (...)'."""
        line = (
            f"{plural(self.images, 'image')}, {plural(self.backgrounds, 'background')}, "
            f"{plural(self.instances, 'instance')}"
        )
        if self.skipped:
            line += f"; skipped {sum(self.skipped.values())} ({breakdown(self.skipped)})"
        if self.fixed:
            n = sum(self.fixed.values())
            line += f"; fixed {n} {'row' if n == 1 else 'rows'} ({breakdown(self.fixed)})"
        return f"{self.prefix}: {line}" if self.prefix else line


def plural(n: int, word: str) -> str:
    """ "1 image", "2 images"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def breakdown(counts: dict[str, int]) -> str:
    """'2 corrupt image, 1 class id >= nc': largest first, then by name, for a stable line."""
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
