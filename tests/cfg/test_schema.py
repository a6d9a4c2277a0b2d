"""The settings schema: defaults, types and ranges from the issue's seed tables."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from yoloforge.cfg.schema import RunConfig

SEED_DEFAULTS = {
    "epochs": 100, "time": None, "patience": 100, "batch": 16, "imgsz": 640, "save": True, "save_period": -1,
    "cache": False, "device": None, "workers": 8, "exist_ok": False, "pretrained": True, "optimizer": "auto",
    "seed": 0, "deterministic": True, "close_mosaic": 10, "resume": False, "amp": True, "fraction": 1.0,
    "lr0": 0.01, "lrf": 0.01, "momentum": 0.937, "weight_decay": 0.0005, "warmup_epochs": 3.0,
    "warmup_momentum": 0.8, "warmup_bias_lr": 0.1, "box": 7.5, "cls": 0.5, "dfl": 1.5, "pose": 12.0, "kobj": 1.0,
    "nbs": 64, "mask_ratio": 4, "dropout": 0.0, "val": True, "plots": True, "iou": 0.7, "max_det": 300,
    "hsv_h": 0.015, "hsv_s": 0.7, "hsv_v": 0.4, "degrees": 0.0, "translate": 0.1, "scale": 0.5, "shear": 0.0,
    "perspective": 0.0, "flipud": 0.0, "fliplr": 0.5, "bgr": 0.0, "mosaic": 1.0, "mixup": 0.0, "cutmix": 0.0,
    "copy_paste": 0.0, "copy_paste_mode": "flip", "auto_augment": "randaugment", "erasing": 0.4,
}  # fmt: skip
OTHER_SEED_KEYS = ["model", "data", "project", "name", "verbose", "single_cls", "classes", "rect", "cos_lr",
                   "profile", "freeze", "multi_scale", "overlap_mask", "save_json", "conf"]  # fmt: skip


def test_every_seed_setting_has_its_default() -> None:
    d = RunConfig().model_dump()
    for key, value in SEED_DEFAULTS.items():
        assert d[key] == value, key
        assert type(d[key]) is type(value), key
    for key in OTHER_SEED_KEYS:
        assert key in d


def test_config_is_frozen_and_rejects_unknown_keys() -> None:
    cfg = RunConfig()
    with pytest.raises(ValidationError):
        cfg.epochs = 3  # type: ignore[misc]
    with pytest.raises(ValidationError, match="epoch"):
        RunConfig(epoch=3)


@pytest.mark.parametrize(
    ("key", "value"),
    [("epochs", 0), ("fraction", 1.5), ("fraction", 0.0), ("hsv_h", -0.1), ("mosaic", 2), ("batch", 0),
     ("batch", -2), ("batch", 1.5), ("imgsz", 16), ("iou", 1.2), ("optimizer", "Adamax"), ("cache", "gpu"),
     ("device", True), ("copy_paste_mode", "paste"), ("workers", -1)],
)  # fmt: skip
def test_out_of_range_values_are_refused(key: str, value: object) -> None:
    with pytest.raises(ValidationError, match=key):
        RunConfig(**{key: value})


def test_batch_forms() -> None:
    assert RunConfig(batch=-1).batch == -1
    assert RunConfig(batch=0.6).batch == 0.6
    assert RunConfig(batch=32.0).batch == 32 and isinstance(RunConfig(batch=32.0).batch, int)


def test_imgsz_rounds_up_to_stride_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="yoloforge"):
        assert RunConfig(imgsz=300).imgsz == 320
    assert "not a multiple of 32" in caplog.text
    assert RunConfig(imgsz=[300, 640], mode="predict").imgsz == [320, 640]


@pytest.mark.parametrize("mode", ["train", "val"])
def test_train_and_val_use_the_longer_side_of_a_list_imgsz(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    """ultralytics#7690: [h, w] for train/val is one square size, the longer side, said once and recorded so."""
    with caplog.at_level(logging.WARNING, logger="yoloforge"):
        cfg = RunConfig(imgsz=[96, 128], mode=mode)
    assert cfg.imgsz == 128 and cfg.model_dump()["imgsz"] == 128
    warned = {id(r): r.getMessage() for r in caplog.records if "imgsz=" in r.getMessage()}
    assert list(warned.values()) == [
        f"imgsz=[96, 128]: {mode} uses one square size, the longer side: imgsz=128 (an [h, w] size applies to "
        "predict and export)"
    ]
    assert RunConfig(imgsz=[100, 64], mode=mode).imgsz == 128  # the longer side, then rounded to the stride
    caplog.clear()
    assert RunConfig(imgsz=[160, 160], mode=mode).imgsz == 160 and RunConfig(imgsz=[96], mode=mode).imgsz == 96
    assert not [r for r in caplog.records if "square" in r.getMessage()]  # a square list is not worth a warning
    for other in ("predict", "export"):
        assert RunConfig(imgsz=[96, 128], mode=other).imgsz == [96, 128]
    with pytest.raises(ValidationError):
        RunConfig(imgsz=[96, 128, 160], mode=mode)


def test_normalised_values() -> None:
    assert RunConfig(device=0).device == "0"
    assert RunConfig(device=[0, 1]).device == "0,1"
    assert RunConfig(device="CUDA:0").device == "cuda:0"
    assert RunConfig(optimizer="adamw").optimizer == "AdamW"
    assert RunConfig(cache="RAM").cache == "ram"
    assert RunConfig(classes=3).classes == [3]


def test_json_schema_carries_help_for_every_field() -> None:
    props = RunConfig.model_json_schema()["properties"]
    assert set(props) == set(RunConfig.model_fields)
    assert all(p.get("description") for p in props.values())
