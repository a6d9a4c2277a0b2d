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
boxes: 3-5 ms with max_keep=300 (validation: 2-3 ms per image at imgsz 160, ~6 ms at 640, conf=0.001
multi-label); without max_keep 0.3-0.9 s for detector-like clusters and ~2.5 s for 30000 uniformly spread
boxes of which 20700 survive (torchvision's C++ loop is faster there; the small CPU blocks below cost this
uncapped case 15-60% against 256 x 1024 blocks, which predict and val never run: they pass max_det).

Class-aware NMS masks pairs of different classes out of the IoU test: the same result as the usual trick of
offsetting boxes by cls * max_wh, without the precision that large offsets cost in float32 (at 79 * 7680 a
float32 coordinate has a resolution of about 0.06 px).

On CPU, NMS never touches torch's thread settings (a server runs many threads: `torch.set_num_threads` is
process-wide, and a thread started while it was lowered kept one thread for good), yet uses no thread pool
either: on a busy machine (validation beside dataloader workers, pytest -n 2 on 2 cores) every op handed to
torch's intra-op pool can wait a scheduler slice for a preempted worker. So:
- per-block tensors stay under ATen's parallel grain size (32768 elements), below which torch runs an op
  inline on the calling thread (block x chunk = 128 x 255; a comparison instead of `triu_`, whose CPU kernel
  always uses the pool);
- the few whole-input steps (candidate selection over the batch, the score sort) run in numpy, which has no
  thread pool, on zero-copy views of the CPU tensors; on GPU they stay in torch.
Measured (bench/metrics.py, real yolo11n output at 640, 16 images): the same ~6 ms per image as the earlier
single-thread version, which lowered the process-wide thread count around each call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from yoloforge.utils.boxes import box_area, xywh2xyxy
from yoloforge.utils.log import LOGGER

# (block, chunk) by device; chunks keep temporaries small. On CPU, block x chunk stays under ATen's grain size
# (at::internal::GRAIN_SIZE = 32768 elements), below which elementwise ops and reductions run on the calling
# thread: no handoff to the intra-op pool, whose workers may be preempted on a busy machine.
_SIZES = {"cpu": (128, 255), "cuda": (2048, 8192)}


def _suppresses(
    a: torch.Tensor, area_a: torch.Tensor, b: torch.Tensor, area_b: torch.Tensor, thr: float
) -> torch.Tensor:
    """(len(a), len(b)) bool: IoU > thr. An empty pair's 0/0 is NaN, which compares False (as in torchvision)."""
    iw = torch.minimum(a[:, None, 2], b[None, :, 2]) - torch.maximum(a[:, None, 0], b[None, :, 0])
    ih = torch.minimum(a[:, None, 3], b[None, :, 3]) - torch.maximum(a[:, None, 1], b[None, :, 1])
    inter = iw.clamp_(min=0).mul_(ih.clamp_(min=0))
    union = (area_a[:, None] + area_b[None, :]).sub_(inter)
    return inter.div_(union) > thr


def _upper(n: int, device: torch.device) -> torch.Tensor:
    """(n, n) bool, True above the diagonal ("i before j"). Built with a comparison, not `triu_`, whose CPU
    kernel always dispatches to the intra-op pool (6 ms for 128 x 128 on a busy 2-core machine)."""
    i = torch.arange(n, device=device)
    return i[:, None] < i[None, :]


def _greedy_block(sup: torch.Tensor) -> torch.Tensor:
    """Exact greedy keep mask for boxes in score order, given sup[i, j] = i would suppress j (i < j only)."""
    keep = torch.ones(sup.shape[0], dtype=torch.bool, device=sup.device)
    while True:
        new = ~(sup & keep[:, None]).any(0)
        if torch.equal(new, keep):
            return keep
        keep = new


class _Boxes:
    """Boxes (float xyxy) with their areas and optional class ids: one block, or the growing kept set."""

    def __init__(self, b: torch.Tensor, ids: torch.Tensor | None) -> None:
        self.b = b if b.dtype in (torch.float32, torch.float64) else b.float()
        self.ids = ids
        self.area = box_area(self.b)

    def __len__(self) -> int:
        return self.b.shape[0]

    def take(self, idx: torch.Tensor | slice) -> _Boxes:
        out = _Boxes.__new__(_Boxes)
        out.b, out.area, out.ids = self.b[idx], self.area[idx], None if self.ids is None else self.ids[idx]
        return out

    def suppression(self, other: _Boxes, thr: float) -> torch.Tensor:
        """(len(self), len(other)) bool: IoU > thr and, with ids, the same id."""
        sup = _suppresses(self.b, self.area, other.b, other.area, thr)
        if self.ids is not None and other.ids is not None:
            sup &= self.ids[:, None] == other.ids[None, :]
        return sup


class _Kept(_Boxes):
    """The kept boxes, in buffers sized once (appending copies only the new rows: no growing torch.cat)."""

    def __init__(self, capacity: int, like: _Boxes) -> None:
        self.b = like.b.new_empty((capacity, 4))
        self.area = like.area.new_empty(capacity)
        self.ids = None if like.ids is None else like.ids.new_empty(capacity)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def take(self, idx: torch.Tensor | slice) -> _Boxes:
        assert isinstance(idx, slice)
        return super().take(slice(idx.start, min(idx.stop, self.n)))

    def append(self, new: _Boxes) -> None:
        k, n = len(new), self.n
        self.b[n : n + k], self.area[n : n + k] = new.b, new.area
        if self.ids is not None and new.ids is not None:
            self.ids[n : n + k] = new.ids
        self.n += k


def _block_keep(blk: _Boxes, kept: _Boxes, thr: float, chunk: int) -> torch.Tensor:
    """Positions in the block that survive the boxes kept before it, and then each other."""
    alive = torch.ones(len(blk), dtype=torch.bool, device=blk.b.device)
    for c in range(0, len(kept), chunk):
        alive &= ~blk.suppression(kept.take(slice(c, c + chunk)), thr).any(1)
    idx = alive.nonzero().squeeze(1)
    if idx.numel() <= 1:
        return idx
    survivors = blk.take(idx)
    n = len(survivors)
    return idx[_greedy_block(survivors.suppression(survivors, thr) & _upper(n, blk.b.device))]


def _by_score(scores: torch.Tensor) -> torch.Tensor:
    """Indices by decreasing score, ties in input order. On CPU numpy's stable argsort: torch's CPU sort of more
    than ~32k values runs on the intra-op pool (measured 3 ms -> 28 ms for 37000 scores on a busy 2-core CPU)."""
    if scores.device.type != "cpu":
        return torch.sort(scores, descending=True, stable=True).indices
    return torch.from_numpy(np.argsort(-scores.detach().float().numpy(), kind="stable"))


def nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_thres: float,
    idxs: torch.Tensor | None = None,
    max_keep: int | None = None,
    deadline: float | None = None,
    block: int | None = None,
    max_candidates: int | None = None,
) -> torch.Tensor:
    """Indices of the xyxy boxes greedy NMS keeps (IoU > iou_thres suppresses), by decreasing score.

    With `idxs` (e.g. class ids) only boxes with equal ids suppress each other, like torchvision's batched_nms.
    Ties in score keep their input order (stable sort). IoU is computed in the boxes' dtype (half -> float32).
    Stops once `max_keep` boxes are kept, or when `time.perf_counter()` passes `deadline`; the result is then the
    exact answer for the boxes visited so far. Only the `max_candidates` highest scores are considered. Boxes are
    gathered block by block in score order, so a scan that stops early never touches (or copies) the rest.
    """
    order = _by_score(scores)[:max_candidates]
    default_block, chunk = _SIZES["cuda" if boxes.is_cuda else "cpu"]
    block = block or default_block
    limit = len(order) if max_keep is None else max_keep
    kept: _Kept | None = None
    kept_idx: list[torch.Tensor] = []
    for s in range(0, len(order), block):
        if (kept is not None and len(kept) >= limit) or (deadline is not None and time.perf_counter() > deadline):
            break
        sel = order[s : s + block]
        blk = _Boxes(boxes.index_select(0, sel), None if idxs is None else idxs.index_select(0, sel))
        if kept is None:
            kept = _Kept(min(len(order), limit + block), blk)
        keep = _block_keep(blk, kept, iou_thres, chunk)
        kept.append(blk.take(keep))
        kept_idx.append(sel[keep])
    return torch.cat(kept_idx)[:limit] if kept_idx else order[:0]


def _candidates(
    pred: torch.Tensor, conf: float, classes: Sequence[int] | None, multi_label: bool
) -> tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image counts, then (boxes xyxy, scores, class ids) of every (box, class) pair with score > conf.

    One pass over the whole (B, 4+nc, A) batch, grouped by image in order, with the same ops on a torch tensor
    (GPU) or a numpy view of it (CPU): numpy never starts threads, while torch's large CPU ops would wake the
    intra-op pool, whose workers then spin beside the small ops of the NMS loop that follows (module docstring).
    """
    xp: Any = np if pred.device.type == "cpu" else torch
    p = pred.detach().numpy() if xp is np else pred
    rows = xp.amax(p[:, 4:], 1) > conf  # (B, A): anchors with some class over conf
    img, anchor = xp.where(rows)  # row-major: grouped by image, in order
    x = xp.swapaxes(p, 1, 2)[img, anchor]  # (N, 4+nc)
    cls_scores = x[:, 4:]
    if multi_label:
        r, labels = xp.where(cls_scores > conf)
        scores = cls_scores[r, labels]
    else:
        scores, labels = xp.amax(cls_scores, 1), cls_scores.argmax(1)
        r = np.arange(len(x)) if xp is np else torch.arange(len(x), device=x.device)
    if classes is not None:
        wanted = np.asarray(classes) if xp is np else torch.as_tensor(classes, device=x.device)
        m = xp.isin(labels, wanted)
        r, scores, labels = r[m], scores[m], labels[m]
    counts = [int(c) for c in xp.bincount(img[r], minlength=pred.shape[0])]
    out = (xywh2xyxy(x[r, :4]), scores, labels.astype(np.int64) if xp is np else labels)
    return counts, *(torch.from_numpy(np.ascontiguousarray(a)) if xp is np else a for a in out)


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
    counts, all_boxes, all_scores, all_labels = _candidates(pred, conf, classes, multi_label)
    start = 0
    for i, n in enumerate(counts):
        boxes, scores, labels = (
            all_boxes[start : start + n],
            all_scores[start : start + n],
            all_labels[start : start + n],
        )
        start += n
        keep = nms(boxes, scores, iou, None if agnostic else labels, max_det, deadline, max_candidates=max_nms)
        output[i] = torch.cat((boxes[keep], scores[keep, None], labels[keep, None].to(boxes.dtype)), 1)
        if time.perf_counter() > deadline:
            LOGGER.warning("NMS time limit %.3fs exceeded: %d of %d images left without boxes", limit, bs - i - 1, bs)
            break
    return output
