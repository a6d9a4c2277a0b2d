"""Layers of the YOLOv8 / YOLO11 detectors (attribute names match existing checkpoints)."""

from yoloforge.nn.modules.blocks import C2PSA, C3, DFL, SPPF, Attention, Bottleneck, C2f, C3k, C3k2, PSABlock
from yoloforge.nn.modules.conv import Concat, Conv, DWConv, fold_batchnorm
from yoloforge.nn.modules.heads import Detect, dist2bbox, make_anchors

__all__ = [
    "C2PSA",
    "C3",
    "DFL",
    "SPPF",
    "Attention",
    "Bottleneck",
    "C2f",
    "C3k",
    "C3k2",
    "Concat",
    "Conv",
    "DWConv",
    "Detect",
    "PSABlock",
    "dist2bbox",
    "fold_batchnorm",
    "make_anchors",
]
