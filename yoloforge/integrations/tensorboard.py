"""TensorBoard: an events file in the run folder, so `tensorboard --logdir runs/detect` shows every run.

Sends per epoch the results.csv numbers as scalars under their own names ('/' groups them in the UI;
'(' and ')' are accepted), the run settings through the HParams plugin (after the first epoch, when
the metric names are known), and at the end the final metrics and the run's plots as images.
"""

from __future__ import annotations

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
        import cv2

        step = epoch_step(trainer)
        for key, value in final_scalars(trainer).items():
            self.writer.add_scalar(key, value, step)
        for path in run_images(trainer.save_dir):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                self.writer.add_image(path.stem, image[..., ::-1].copy(), step, dataformats="HWC")
        self.writer.flush()

    def close(self, trainer: Any, failed: bool) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
