"""yoloforge: train YOLO object detectors on your own data.

Importing the package is cheap: torch and the model code load only when `YOLO` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["YOLO", "__version__"]

if TYPE_CHECKING:
    from yoloforge.api import YOLO


def __getattr__(name: str) -> Any:
    if name == "YOLO":
        from yoloforge.api import YOLO

        return YOLO
    raise AttributeError(f"module 'yoloforge' has no attribute {name!r}")
