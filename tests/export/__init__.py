"""Export tests; shared helpers: real letterboxed images and the parity check every format must pass.

Parity criterion (fp32): class probabilities within 1e-4 absolute; boxes within 1e-4 relative to the largest box
coordinate (boxes are in input pixels, up to ~160 at imgsz 160, where float32 rounding alone is ~1e-5 px per op);
after NMS the same detections: same count, same classes, boxes within 1e-3 px.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from yoloforge.data.augment.letterbox import letterbox
from yoloforge.data.images import read_image
from yoloforge.utils.nms import non_max_suppression

IMAGES = ("000000000387.jpg", "000000000542.jpg")  # the trained fixture finds 2 and 1 objects here at imgsz 160


def images_batch(coco128: Path, size: int | tuple[int, int]) -> torch.Tensor:
    """Real images letterboxed like prediction does: RGB, CHW, float 0..1."""
    ims = []
    for name in IMAGES:
        im, _ = letterbox(read_image(coco128 / "images" / "train2017" / name), size)
        ims.append(np.ascontiguousarray(im[..., ::-1].transpose(2, 0, 1)))
    return torch.from_numpy(np.stack(ims)).float() / 255


def assert_same_predictions(y: torch.Tensor, ref: torch.Tensor, expect_boxes: bool = True) -> None:
    """Raw outputs within the tolerances above, then identical detections after NMS (conf 0.25, IoU 0.7)."""
    assert y.shape == ref.shape and y.dtype == ref.dtype
    box_err = ((y[:, :4] - ref[:, :4]).abs().max() / ref[:, :4].abs().max()).item()
    cls_err = (y[:, 4:] - ref[:, 4:]).abs().max().item()
    assert box_err <= 1e-4 and cls_err <= 1e-4, (box_err, cls_err)
    for d, r in zip(non_max_suppression(y), non_max_suppression(ref), strict=True):
        assert len(d) == len(r), (d, r)
        assert len(r) > 0 or not expect_boxes
        assert torch.equal(d[:, 5], r[:, 5])
        torch.testing.assert_close(d[:, :4], r[:, :4], rtol=0, atol=1e-3)
        torch.testing.assert_close(d[:, 4], r[:, 4], rtol=0, atol=1e-4)
