"""Val mode.

Inference over a split into metrics (validator.py), the standalone mode (mode.py), the pycocotools
cross-check (coco_eval.py).
"""
