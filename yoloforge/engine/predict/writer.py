"""What predict writes into its run folder, laid out as Ultralytics users expect:

<run>/<image name>                annotated image (save=True)
<run>/<video stem>.mp4            annotated video, every frame (save=True)
<run>/labels/<stem>.txt           YOLO rows `cls x y w h [conf]` (save_txt=True; none for an image without
                                  detections); video frames: labels/<stem>_<frame>.txt
<run>/crops/<class name>/<stem>.jpg   each box cut out of the original image (save_crop=True), a little
                                  larger than the box (2% + 10 px, as Ultralytics' crops); further crops
                                  of one class in one image are <stem>2.jpg, <stem>3.jpg ...
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from yoloforge.engine.predict.results import Results, ResultsError
from yoloforge.engine.predict.sources import Frame
from yoloforge.engine.predict.video import VideoWriter
from yoloforge.utils.io import atomic_write_bytes

CROP_GAIN, CROP_PAD = 1.02, 10  # a crop's size: box size * gain + pad pixels, centred on the box


def crop_box(img: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """The part of `img` around one box (x1, y1, x2, y2 in pixels), enlarged by CROP_GAIN and CROP_PAD, clipped."""
    h, w = img.shape[:2]
    cx, cy = (xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2
    bw, bh = (xyxy[2] - xyxy[0]) * CROP_GAIN + CROP_PAD, (xyxy[3] - xyxy[1]) * CROP_GAIN + CROP_PAD
    x1, x2 = int(np.clip(cx - bw / 2, 0, w)), int(np.clip(cx + bw / 2, 0, w))
    y1, y2 = int(np.clip(cy - bh / 2, 0, h)), int(np.clip(cy + bh / 2, 0, h))
    return img[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]


class OutputWriter:
    """Writes each Results as the settings ask; `folder()` creates the run folder on first use.

    `draw` holds Results.plot's keywords (line_width, labels, conf); `save_conf` adds confidences to label rows.
    """

    def __init__(
        self, folder: Callable[[], Path], image: bool, txt: bool, crop: bool, draw: dict, save_conf: bool = False
    ) -> None:
        self.folder, self.image, self.txt, self.crop, self.draw = folder, image, txt, crop, draw
        self.save_conf = save_conf
        self._names: set[str] = set()
        self._video: VideoWriter | None = None
        self._video_source, self._video_stem = "", ""

    @property
    def active(self) -> bool:
        return self.image or self.txt or self.crop

    def unique(self, name: str) -> str:
        """The file name of `name`, numbered when two inputs share it (a.jpg, a_2.jpg) so none is overwritten."""
        p, n, out = Path(name), 2, Path(name).name
        while out in self._names:
            out, n = f"{p.stem}_{n}{p.suffix}", n + 1
        self._names.add(out)
        return out

    def write(self, r: Results, frame: Frame) -> None:
        """The files for one image or video frame; sets r.save_dir."""
        if not self.active:
            return
        run = self.folder()
        r.save_dir = run
        if frame.frame:
            if frame.frame == 1 or frame.path != self._video_source:
                self._start_video(run, frame)
            stem = f"{self._video_stem}_{frame.frame}"
            if self._video is not None:
                self._video.write(r.plot(**self.draw))
        else:
            name = self.unique(frame.path)
            stem = Path(name).stem
            if self.image:
                r.save(run / name, **self.draw)
        if self.txt and len(r):  # as Ultralytics: no file for an image without detections
            r.save_txt(run / "labels" / f"{stem}.txt", save_conf=self.save_conf)
        if self.crop:
            self._save_crops(r, run / "crops", stem)

    def _start_video(self, run: Path, frame: Frame) -> None:
        self.close()
        name = self.unique(Path(frame.path).stem + ".mp4")
        self._video_source, self._video_stem = frame.path, Path(name).stem
        self._video = VideoWriter(run / name, frame.fps) if self.image else None

    def _save_crops(self, r: Results, folder: Path, stem: str) -> None:
        b = r.boxes.numpy()
        for xyxy, c in zip(b.xyxy, b.cls, strict=True):
            cls_dir = folder / r.names.get(int(c), str(int(c)))
            path, n = cls_dir / f"{stem}.jpg", 2
            while path.exists():
                path, n = cls_dir / f"{stem}{n}.jpg", n + 1
            ok, buf = cv2.imencode(".jpg", crop_box(r.orig_img, xyxy))
            if not ok:
                raise ResultsError(f"OpenCV could not encode the crop {path}")
            atomic_write_bytes(path, buf.tobytes())

    def close(self) -> None:
        """Finish the open video, if any."""
        if self._video is not None:
            self._video.close()
            self._video = None

    def abort(self) -> None:
        """Drop a half-written video (the run failed or the caller stopped iterating)."""
        if self._video is not None:
            self._video.abort()
            self._video = None
