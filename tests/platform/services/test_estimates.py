"""Estimates: the GFLOPs table is the library's own count, and the range follows the stated derivation."""

from __future__ import annotations

from decimal import Decimal

import pytest


def test_gflops_table_is_the_library_count() -> None:
    from yoloforge import YOLO
    from yoloforge.platform.services.estimates import GFLOPS_640

    for name in ("yolo11n", "yolov8n"):
        assert YOLO(f"{name}.yaml").model.flops(640) == pytest.approx(GFLOPS_640[name], abs=0.006)


def test_estimate_follows_the_derivation() -> None:
    from yoloforge.platform.services.estimates import estimate

    e = estimate("L40S", Decimal("1.14"), "yolo11s.pt", epochs=10, imgsz=320, images=1000)
    work = 1000 * 3 * 21.59 * (320 / 640) ** 2 * 1e9  # FLOPs of one epoch
    assert e.seconds_per_epoch == pytest.approx((work / (362e12 * 0.35), work / (362e12 * 0.10)))
    assert e.seconds == pytest.approx((e.seconds_per_epoch[0] * 10, e.seconds_per_epoch[1] * 10))
    low, high = e.cost
    assert Decimal("0") <= low <= high
    assert high == (Decimal("1.14") * Decimal(repr(e.seconds[1])) / 3600).quantize(Decimal("0.01"))
    free = estimate("cpu", "0", "yolo11n", epochs=3, imgsz=64, images=8)
    assert free.cost == (Decimal("0.00"), Decimal("0.00")) and free.seconds[0] > 0
