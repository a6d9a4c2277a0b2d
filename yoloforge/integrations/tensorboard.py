"""TensorBoard: an events file in the run folder, so `tensorboard --logdir runs/detect` shows every run.

Sends per epoch the results.csv numbers as scalars under their own names ('/' groups them in the UI;
'(' and ')' are accepted), the run settings through the HParams plugin (after the first epoch, when
the metric names are known), and at the end the final metrics and the run's plots as images.

Images go in as the bytes of their files (JPEG stays JPEG): `add_image` would decode them and store PNG,
which made a tiny run's events file 1.4 MB for 0.5 MB of plots (4x per training-batch mosaic), and 5-7 MB
at imgsz 640.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yoloforge.integrations.base import RunLogger, epoch_step, final_scalars, flat_params, run_images


class TensorBoardLogger(RunLogger):
    name = "tensorboard"

    def __init__(self) -> None:
        super().__init__()
        self.writer: Any = None
        self.hparams_sent = False

    def start(self, trainer: Any) -> str:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(trainer.save_dir))
        self.hparams_sent = False
        return str(trainer.save_dir)

    def log_epoch(self, trainer: Any, step: int, scalars: dict[str, float]) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step)
        if not self.hparams_sent:
            self._send_hparams(trainer, [k for k in scalars if k.startswith(("metrics/", "val/"))])
        self.writer.flush()

    def _send_hparams(self, trainer: Any, metric_names: list[str]) -> None:
        """Settings and the metrics to compare runs by, in this same events file (no extra sub-run)."""
        from torch.utils.tensorboard.summary import hparams

        self.hparams_sent = True
        for summary in hparams(flat_params(trainer), dict.fromkeys(metric_names, 0.0)):
            self.writer.file_writer.add_summary(summary)

    def finish(self, trainer: Any) -> None:
        step = epoch_step(trainer)
        for key, value in final_scalars(trainer).items():
            self.writer.add_scalar(key, value, step)
        for path in run_images(trainer.save_dir):
            summary = encoded_image(path.stem, path)
            if summary is not None:
                self.writer.file_writer.add_summary(summary, step)
        self.writer.flush()

    def close(self, trainer: Any, failed: bool) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def encoded_image(tag: str, path: Path) -> Any:
    """An image summary holding the file's own encoded bytes (PNG or JPEG), or None for an unreadable file."""
    import cv2
    import numpy as np
    from tensorboard.compat.proto.summary_pb2 import Summary

    data = path.read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    value = Summary.Image(height=h, width=w, colorspace=channels, encoded_image_string=data)
    return Summary(value=[Summary.Value(tag=tag, image=value)])
