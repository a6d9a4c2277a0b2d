"""Non-maximum suppression in plain torch (no torchvision): exact greedy NMS, vectorised by blocks.

`nms` gives the same kept indices as the classic greedy algorithm (visit boxes by decreasing score; keep a box
unless a kept box overlaps it with IoU > threshold). Boxes are visited in blocks of `block` boxes:

1. a block is first checked against every box kept so far (block x kept IoU matrices, in chunks);
2. inside the block, the survivors' upper-triangular "i suppresses j" matrix is solved by a fixed-point
   iteration, keep[j] = not any(keep[i] and S[i, j] for i < j), started from all-true. Entry j only depends on
   entries before it, so after t rounds the first t entries are final; the loop stops at the first round that
   changes nothing, which is the greedy answer (usually within a handful of rounds).

Work is O(n * (kept + block)) instead of O(n^2), and `max_keep` (max_det) stops the scan once enough boxes are
kept, because greedy NMS keeps boxes in score order. Measured on a shared 2-core CPU (bench/metrics.py), 30000
boxes: 5-15 ms with max_keep=300 (validation: 2-3 ms per image at imgsz 160, ~10 ms at 640, conf=0.001
multi-label); without max_keep 0.1-0.6 s for detector-like clusters and ~2.5 s for 30000 uniformly spread
boxes of which 20700 survive (torchvision's C++ loop is faster there).

Class-aware NMS masks pairs of different classes out of the IoU test: the same result as the usual trick of
offsetting boxes by cls * max_wh, without the precision that large offsets cost in float32 (at 79 * 7680 a
float32 coordinate has a resolution of about 0.06 px).

On CPU, NMS runs with one intra-op thread: its tensors are small, and on a busy machine (validation next to
dataloader workers, pytest -n 2 on 2 cores) every multi-threaded op can wait a whole scheduler slice for a
preempted worker thread, which made NMS 10-50x slower in measurements.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence

import torch

from yoloforge.utils.boxes import box_area, xywh2xyxy
from yoloforge.utils.log import LOGGER

_SIZES = {"cpu": (256, 1024), "cuda": (2048, 8192)}  # (block, chunk) by device; chunks keep temporaries small


@contextlib.contextmanager
def _single_thread(device: torch.device) -> Iterator[None]:
    """One intra-op thread for the duration (CPU only; the setting is process-wide, restored on exit)."""
    n = torch.get_num_threads()
    if device.type != "cpu" or n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _suppresses(
    a: torch.Tensor, area_a: torch.Tensor, b: torch.Tensor, area_b: torch.Tensor, thr: float
) -> torch.Tensor:
    """(len(a), len(b)) bool: IoU > thr. An empty pair's 0/0 is NaN, which compares False (as in torchvision)."""
    iw = torch.minimum(a[:, None, 2], b[None, :, 2]) - torch.maximum(a[:, None, 0], b[None, :, 0])
    ih = torch.minimum(a[:, None, 3], b[None, :, 3]) - torch.maximum(a[:, None, 1], b[None, :, 1])
    inter = iw.clamp_(min=0).mul_(ih.clamp_(min=0))
    union = (area_a[:, None] + area_b[None, :]).sub_(inter)
    return inter.div_(union) > thr


def _greedy_block(sup: torch.Tensor) -> torch.Tensor:
    """Exact greedy keep mask for boxes in score order, given sup[i, j] = i would suppress j (i < j only)."""
    keep = torch.ones(sup.shape[0], dtype=torch.bool, device=sup.device)
    while True:
        new = ~(sup & keep[:, None]).any(0)
        if torch.equal(new, keep):
            return keep
        keep = new


class _Boxes:
    """Boxes in score order with their areas and optional class ids; also used for the growing kept set."""

    def __init__(self, b: torch.Tensor, ids: torch.Tensor | None) -> None:
        self.b, self.ids = b, ids
        self.area = box_area(b)

    def __len__(self) -> int:
        return self.b.shape[0]

    def take(self, idx: torch.Tensor | slice) -> _Boxes:
        out = _Boxes.__new__(_Boxes)
        out.b, out.area, out.ids = self.b[idx], self.area[idx], None if self.ids is None else self.ids[idx]
        return out

    def extend(self, other: _Boxes) -> None:
        self.b, self.area = torch.cat((self.b, other.b)), torch.cat((self.area, other.area))
        if self.ids is not None and other.ids is not None:
            self.ids = torch.cat((self.ids, other.ids))

    def suppression(self, other: _Boxes, thr: float) -> torch.Tensor:
        """(len(self), len(other)) bool: IoU > thr and, with ids, the same id."""
        sup = _suppresses(self.b, self.area, other.b, other.area, thr)
        if self.ids is not None and other.ids is not None:
            sup &= self.ids[:, None] == other.ids[None, :]
        return sup


def _block_keep(blk: _Boxes, kept: _Boxes, thr: float, chunk: int) -> torch.Tensor:
    """Positions in the block that survive the boxes kept before it, and then each other."""
    alive = torch.ones(len(blk), dtype=torch.bool, device=blk.b.device)
    for c in range(0, len(kept), chunk):
        alive &= ~blk.suppression(kept.take(slice(c, c + chunk)), thr).any(1)
    idx = alive.nonzero().squeeze(1)
    if idx.numel() <= 1:
        return idx
    survivors = blk.take(idx)
    return idx[_greedy_block(survivors.suppression(survivors, thr).triu_(1))]


def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_thres: float,
    idxs: torch.Tensor | None = None,
    max_keep: int | None = None,
    deadline: float | None = None,
    block: int | None = None,
) -> torch.Tensor:
    """Indices of the xyxy boxes greedy NMS keeps (IoU > iou_thres suppresses), by decreasing score.

    With `idxs` (e.g. class ids) only boxes with equal ids suppress each other, like torchvision's batched_nms.
    Ties in score keep their input order (stable sort). IoU is computed in the boxes' dtype (half -> float32).
    Stops once `max_keep` boxes are kept, or when `time.perf_counter()` passes `deadline`; the result is then the
    exact answer for the boxes visited so far.
    """
    with _single_thread(boxes.device):
        order = torch.sort(scores, descending=True, stable=True).indices
        b = boxes[order]
        b = b if b.dtype in (torch.float32, torch.float64) else b.float()
        todo = _Boxes(b, None if idxs is None else idxs[order])
        kept, kept_idx = todo.take(slice(0, 0)), []
        default_block, chunk = _SIZES["cuda" if b.is_cuda else "cpu"]
        block = block or default_block
        limit = len(todo) if max_keep is None else max_keep
        for s in range(0, len(todo), block):
            if len(kept) >= limit or (deadline is not None and time.perf_counter() > deadline):
                break
            blk = todo.take(slice(s, s + block))
            keep = _block_keep(blk, kept, iou_thres, chunk)
            kept.extend(blk.take(keep))
            kept_idx.append(keep + s)
        idx = torch.cat(kept_idx) if kept_idx else order[:0]
        return order[idx[:limit]]


def _candidates(
    x: torch.Tensor, conf: float, classes: Sequence[int] | None, multi_label: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(boxes xyxy, scores, class ids) of the (box, class) pairs of one image's (A, 4+nc) rows with score > conf."""
    cls_scores = x[:, 4:]
    if multi_label:
        r, c = (cls_scores > conf).nonzero(as_tuple=True)
        boxes, scores, labels = xywh2xyxy(x[r, :4]), cls_scores[r, c], c
    else:
        scores, labels = cls_scores.max(1)
        m = scores > conf
        boxes, scores, labels = xywh2xyxy(x[m, :4]), scores[m], labels[m]
    if classes is not None:
        m = (labels[:, None] == torch.as_tensor(classes, device=labels.device)).any(1)
        boxes, scores, labels = boxes[m], scores[m], labels[m]
    return boxes, scores, labels


def non_max_suppression(
    pred: torch.Tensor | Sequence[torch.Tensor],
    conf: float = 0.25,
    iou: float = 0.7,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    multi_label: bool = False,
    max_det: int = 300,
    max_nms: int = 30000,
    time_limit: float | None = None,
) -> list[torch.Tensor]:
    """Per image, an (n, 6) tensor [x1, y1, x2, y2, conf, cls] sorted by conf, from the model's (B, 4+nc, A) output.

    A candidate is a (box, class) pair with score > conf: the best class only, or every class over `conf` with
    `multi_label` (what validation uses, so a box can count for two classes). Only the top `max_nms` candidates
    by score enter NMS. NMS is class-aware (boxes of different classes never suppress each other) unless
    `agnostic`; classes are separated exactly, with no cls * max_wh box offset (module docstring).
    `time_limit` (default 2.0 + 0.05 * batch seconds) bounds
    the whole batch: past it, a warning is logged and the images not yet done come back empty (the one in
    progress keeps the boxes kept so far) instead of stalling validation.
    """
    if isinstance(pred, (list, tuple)):  # (inference output, raw head maps) in some export/eval modes
        pred = pred[0]
    bs = pred.shape[0]
    limit = 2.0 + 0.05 * bs if time_limit is None else time_limit
    deadline = time.perf_counter() + limit
    output = [torch.zeros((0, 6), device=pred.device, dtype=pred.dtype) for _ in range(bs)]
    with _single_thread(pred.device):
        rows = pred[:, 4:].amax(1) > conf  # (B, A): anchors with some class over conf
        for i in range(bs):
            x = pred[i].T[rows[i]]
            boxes, scores, labels = _candidates(x, conf, classes, multi_label)
            if scores.numel() > max_nms:
                top = torch.sort(scores, descending=True, stable=True).indices[:max_nms]
                boxes, scores, labels = boxes[top], scores[top], labels[top]
            keep = nms(boxes, scores, iou, idxs=None if agnostic else labels, max_keep=max_det, deadline=deadline)
            output[i] = torch.cat((boxes[keep], scores[keep, None], labels[keep, None].to(boxes.dtype)), 1)
            if time.perf_counter() > deadline:
                LOGGER.warning(
                    "NMS time limit %.3fs exceeded: %d of %d images left without boxes", limit, bs - i - 1, bs
                )
                break
    return output
