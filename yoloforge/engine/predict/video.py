"""Video for predict mode: frames read one at a time with OpenCV, annotated frames written back as a video.

Output is MPEG-4 Part 2 (`mp4v` FourCC) in an .mp4 file, at the source's frame rate: the codec every OpenCV
build can write without extra libraries. The file is written under a temporary name and renamed when the
last frame is in, so an interrupted run never leaves a half-written video under the final name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yoloforge.errors import YoloforgeError

VID_FORMATS = frozenset({"asf", "avi", "gif", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "ts", "webm", "wmv"})
FOURCC = "mp4v"
DEFAULT_FPS = 30.0  # when a file does not say (some streams and GIFs report 0)


class VideoError(YoloforgeError, ValueError):
    """A video that OpenCV cannot open or decode, or an annotated video that cannot be written."""


def is_video(path: str | os.PathLike[str]) -> bool:
    """True when the name ends in one of VID_FORMATS (any case)."""
    return os.path.splitext(os.fspath(path))[1][1:].lower() in VID_FORMATS


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: frame count (may be an estimate), frames per second, frame size."""

    frames: int
    fps: float


def probe(path: str) -> VideoInfo:
    """Open `path` and read its first frame; raises VideoError naming the file when that fails."""
    cap = cv2.VideoCapture(path)
    try:
        ok = cap.isOpened() and cap.read()[0]
        if not ok:
            raise VideoError(f"video {path!r} could not be opened or has no readable frame (OpenCV {cv2.__version__})")
        fps = cap.get(cv2.CAP_PROP_FPS)
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    return VideoInfo(frames=max(frames, 1), fps=fps if fps and fps > 0 else DEFAULT_FPS)


def read_frames(path: str) -> Iterator[np.ndarray]:
    """The frames of `path` as HxWx3 BGR uint8 arrays, in order; one frame in memory at a time."""
    cap = cv2.VideoCapture(path)
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


class VideoWriter:
    """Annotated frames -> `path` (.mp4, mp4v). Frames must all have the size of the first."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self.tmp = path.with_name(f".{path.stem}.part{path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            h, w = frame.shape[:2]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*FOURCC), self.fps, (w, h))
            if not self._writer.isOpened():
                raise VideoError(f"OpenCV cannot write {FOURCC} video to {self.tmp}")
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file and move it into place; returns its path (None when no frame was written)."""
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop a partial file (the run failed or was interrupted)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self.tmp.unlink(missing_ok=True)
