"""The YOLO facade."""

from __future__ import annotations

import subprocess
import sys

import pytest

from yoloforge import YOLO, __version__
from yoloforge.errors import ConfigError


def test_import_is_lazy() -> None:
    code = "import sys, yoloforge; print('torch' in sys.modules, yoloforge.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", __version__]


def test_build_and_info() -> None:
    model = YOLO("yolo11n.yaml")
    assert model.model.nc == 80 and len(model.names) == 80
    info = model.info(verbose=False)
    assert info.parameters == 2_624_080
    assert 6.4 < info.gflops < 6.7


def test_modes_validate_settings_first() -> None:
    model = YOLO("yolov8n.yaml")
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        model.train(data="coco8.yaml", epoch=3)
    with pytest.raises(ConfigError, match="training needs a dataset"):
        model.train(epochs=1)
    with pytest.raises(ConfigError, match="val needs a dataset"):
        model.val()
    with pytest.raises(ConfigError, match="format"):
        model.export(format="tflite")


def test_bad_model_argument() -> None:
    with pytest.raises(ConfigError, match="expected an architecture YAML"):
        YOLO("model.bin")
    with pytest.raises(ConfigError, match="task=segment: yoloforge trains, validates and predicts detect models only"):
        YOLO("yolo11n.yaml", task="segment")
