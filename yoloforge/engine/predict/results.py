"""What predict returns: one `Results` per image, holding its `Boxes` in original-image pixels.

`Boxes` wraps an (n, 6) array [x1, y1, x2, y2, conf, cls], a torch tensor (as predict makes it) or a numpy
array (after `.numpy()`); every property returns the same kind, so code written for one works on the other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from yoloforge.errors import YoloforgeError
from yoloforge.utils.annotate import draw_boxes
from yoloforge.utils.boxes import xyxy2xywh, xyxy2xywhn
from yoloforge.utils.io import atomic_write_bytes, atomic_write_text

Data = torch.Tensor | np.ndarray


class ResultsError(YoloforgeError, ValueError):
    """A Results/Boxes call got something it cannot use (a bad array, an unknown image format)."""


class Boxes:
    """Detections of one image: (n, 6) rows [x1, y1, x2, y2, conf, cls] in pixels of `orig_shape` (h, w)."""

    def __init__(self, data: Data, orig_shape: tuple[int, int]) -> None:
        if data.ndim == 1:
            data = data[None]
        if data.ndim != 2 or data.shape[1] != 6:
            raise ResultsError(f"Boxes needs (n, 6) rows [x1, y1, x2, y2, conf, cls], got shape {tuple(data.shape)}")
        self.data = data
        self.orig_shape = (int(orig_shape[0]), int(orig_shape[1]))

    @property
    def xyxy(self) -> Data:
        """Corners in pixels, (n, 4)."""
        return self.data[:, :4]

    @property
    def conf(self) -> Data:
        """Confidence of each box, (n,)."""
        return self.data[:, 4]

    @property
    def cls(self) -> Data:
        """Class id of each box as a float, (n,) (use `.int()`/`.astype(int)` for indexing)."""
        return self.data[:, 5]

    @property
    def xywh(self) -> Data:
        """Centre and size in pixels, (n, 4)."""
        return xyxy2xywh(self.xyxy)

    @property
    def xyxyn(self) -> Data:
        """Corners divided by the image width and height, (n, 4)."""
        h, w = self.orig_shape
        return self.xyxy / (self.xyxy.new_tensor([w, h, w, h]) if isinstance(self.data, torch.Tensor) else [w, h, w, h])

    @property
    def xywhn(self) -> Data:
        """Centre and size divided by the image width and height (YOLO label format), (n, 4)."""
        h, w = self.orig_shape
        return xyxy2xywhn(self.xyxy, w, h)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, idx: Any) -> Boxes:
        """A subset (an int index keeps the 2-D shape: boxes[0].xyxy is (1, 4))."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1 if idx != -1 else None)
        return Boxes(self.data[idx], self.orig_shape)

    def cpu(self) -> Boxes:
        return Boxes(self.data.cpu(), self.orig_shape) if isinstance(self.data, torch.Tensor) else self

    def numpy(self) -> Boxes:
        """The same boxes as numpy arrays (float32), e.g. for OpenCV or JSON."""
        if isinstance(self.data, np.ndarray):
            return self
        return Boxes(self.data.detach().cpu().float().numpy(), self.orig_shape)

    def to(self, *args: Any, **kwargs: Any) -> Boxes:
        """torch's `.to` (device or dtype); numpy boxes become tensors first."""
        data = torch.as_tensor(self.data)
        return Boxes(data.to(*args, **kwargs), self.orig_shape)

    def __repr__(self) -> str:
        return f"Boxes(n={len(self)}, orig_shape={self.orig_shape}, data={self.data!r})"


class Results:
    """Predictions for one image, with the image itself so they can be drawn and saved."""

    def __init__(
        self,
        orig_img: np.ndarray,
        path: str,
        names: Mapping[int, str],
        boxes: Data | None = None,
        speed: Mapping[str, float] | None = None,
    ) -> None:
        self.orig_img = orig_img
        self.orig_shape: tuple[int, int] = (int(orig_img.shape[0]), int(orig_img.shape[1]))
        self.path = str(path)
        self.names = dict(names)
        self.boxes = Boxes(boxes if boxes is not None else torch.zeros((0, 6)), self.orig_shape)
        self.speed: dict[str, float] = dict(speed or {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0})
        self.save_dir: Path | None = None  # the run folder predict wrote this image's files to (None: nothing saved)

    def _with_boxes(self, boxes: Boxes) -> Results:
        out = Results(self.orig_img, self.path, self.names, boxes.data, self.speed)
        out.save_dir = self.save_dir
        return out

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, idx: Any) -> Results:
        """The same image with a subset of its boxes."""
        return self._with_boxes(self.boxes[idx])

    def cpu(self) -> Results:
        return self._with_boxes(self.boxes.cpu())

    def numpy(self) -> Results:
        return self._with_boxes(self.boxes.numpy())

    def to(self, *args: Any, **kwargs: Any) -> Results:
        return self._with_boxes(self.boxes.to(*args, **kwargs))

    def plot(self, line_width: int | None = None, labels: bool = True, conf: bool = True) -> np.ndarray:
        """An annotated BGR copy of the original image (the original is left unchanged)."""
        b = self.boxes.numpy()
        return draw_boxes(self.orig_img, b.xyxy, b.cls, b.conf, self.names, line_width, labels, conf)

    def save(
        self, filename: str | Path | None = None, line_width: int | None = None, labels: bool = True, conf: bool = True
    ) -> Path:
        """Write the annotated image atomically (format from the suffix); default name results_<image name>."""
        path = Path(filename) if filename is not None else Path(f"results_{Path(self.path).name}")
        if not path.suffix:
            path = path.with_suffix(".jpg")
        try:
            ok, buf = cv2.imencode(path.suffix, self.plot(line_width, labels, conf))
        except cv2.error:
            ok = False
        if not ok:
            raise ResultsError(f"cannot write {path}: OpenCV has no encoder for '{path.suffix}'; use .jpg or .png")
        atomic_write_bytes(path, buf.tobytes())
        return path

    def save_txt(self, path: str | Path, save_conf: bool = False) -> Path:
        """Write YOLO label rows `cls x y w h [conf]` (normalised centre/size), one per box; empty when none."""
        b = self.boxes.numpy()
        rows = []
        for c, xywhn, score in zip(b.cls, b.xywhn, b.conf, strict=True):
            row = f"{int(c)} " + " ".join(f"{v:.6f}" for v in xywhn)
            rows.append(row + (f" {score:.6f}" if save_conf else ""))
        path = Path(path)
        atomic_write_text(path, "".join(r + "\n" for r in rows))
        return path

    def summary(self, normalize: bool = False, decimals: int = 5) -> list[dict[str, Any]]:
        """One dict per box: name, class, confidence and box corners (pixels, or 0-1 with `normalize`)."""
        b = self.boxes.numpy()
        corners = b.xyxyn if normalize else b.xyxy
        out = []
        for xyxy, c, score in zip(corners.tolist(), b.cls.tolist(), b.conf.tolist(), strict=True):
            box = {k: round(v, decimals) for k, v in zip(("x1", "y1", "x2", "y2"), xyxy, strict=True)}
            name = self.names.get(int(c), str(int(c)))
            out.append({"name": name, "class": int(c), "confidence": round(score, decimals), "box": box})
        return out

    def verbose(self) -> str:
        """Counts per class in class-id order, e.g. '2 persons, 1 dog'; 'no detections' when empty."""
        if not len(self):
            return "no detections"
        counts = Counter(int(c) for c in self.boxes.numpy().cls.tolist())
        parts = []
        for c in sorted(counts):
            name, n = self.names.get(c, str(c)), counts[c]
            parts.append(f"{n} {name}{'s' if n > 1 else ''}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        h, w = self.orig_shape
        return f"Results({self.path!r}, {w}x{h}: {self.verbose()})"
