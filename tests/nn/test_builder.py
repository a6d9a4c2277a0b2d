"""Building YOLOv8 / YOLO11 models from the packaged YAML files, and the errors for bad configs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from yoloforge.nn.builder import ModelConfigError, available_models, build_model, load_model_config, packaged_models
from yoloforge.nn.modules import Bottleneck, C3k, Conv, DWConv
from yoloforge.nn.registry import make_divisible, scale_repeats

# name: (parameters with nc=80, GFLOPs at 640) as published for the reference implementation
EXPECTED = {
    "yolov8n": (3_157_200, 8.7),
    "yolov8s": (11_166_560, 28.6),
    "yolov8m": (25_902_640, 78.9),
    "yolov8l": (43_691_520, 165.2),
    "yolov8x": (68_229_648, 257.8),
    "yolo11n": (2_624_080, 6.5),
    "yolo11s": (9_458_752, 21.5),
    "yolo11m": (20_114_688, 68.0),
    "yolo11l": (25_372_160, 86.9),
    "yolo11x": (56_966_176, 194.9),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_scale_matches_reference_size(name: str) -> None:
    params, gflops = EXPECTED[name]
    model = build_model(f"{name}.yaml")
    info = model.info(verbose=False)
    assert info.parameters == params
    assert info.gradients == params - 16  # only the frozen DFL integral conv is excluded
    assert info.gflops == pytest.approx(gflops, rel=0.02)
    assert model.stride.tolist() == [8.0, 16.0, 32.0]
    assert model.yaml["scale"] == name[-1]
    assert model.yaml["name"] == name


@pytest.mark.parametrize(("name", "head"), [("yolov8n", 22), ("yolo11n", 23)])
def test_state_dict_keys_follow_checkpoint_layout(name: str, head: int) -> None:
    keys = build_model(f"{name}.yaml").state_dict().keys()
    for key in ("model.0.conv.weight", "model.0.bn.running_var", f"model.{head}.cv2.0.0.conv.weight"):
        assert key in keys
    assert f"model.{head}.dfl.conv.weight" in keys
    assert not any(k.endswith("stride") for k in keys)


def test_yolo11_head_uses_depthwise_class_branch_and_v8_does_not() -> None:
    v11 = build_model("yolo11n.yaml").model[-1]
    v8 = build_model("yolov8n.yaml").model[-1]
    assert isinstance(v11.cv3[0][0][0], DWConv)
    assert isinstance(v8.cv3[0][0], Conv) and not isinstance(v8.cv3[0][0], DWConv)


@pytest.mark.parametrize(("scale", "inner"), [("s", Bottleneck), ("m", C3k), ("x", C3k)])
def test_large_yolo11_scales_use_c3k_everywhere(scale: str, inner: type) -> None:
    model = build_model(f"yolo11{scale}.yaml")
    assert isinstance(model.model[2].m[0], inner)  # this row says c3k=false in the YAML
    assert isinstance(model.model[8].m[0], C3k)  # this row says c3k=true


def test_nc_override_and_names() -> None:
    model = build_model("yolo11n.yaml", nc=3)
    head = model.model[-1]
    assert (model.nc, head.nc, head.no, head.reg_max) == (3, 3, 3 + 64, 16)
    assert head.cv3[0][-1].out_channels == 3
    assert model.names == {0: "class0", 1: "class1", 2: "class2"}
    named = build_model("yolov8n.yaml", names=["cat", "dog"])
    assert named.nc == 2 and named.names == {0: "cat", 1: "dog"}
    with pytest.raises(ModelConfigError, match="2 class names given for nc=5"):
        build_model("yolov8n.yaml", nc=5, names=["cat", "dog"])


def test_unscaled_name_defaults_to_n_with_warning() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("yoloforge.nn.builder")
    logger.addHandler(handler)
    try:
        model = build_model("yolo11.yaml")
    finally:
        logger.removeHandler(handler)
    assert model.yaml["scale"] == "n"
    assert sum(p.numel() for p in model.parameters()) == EXPECTED["yolo11n"][0]
    assert any(r.levelno == logging.WARNING and "scale" in r.getMessage() for r in records)


def test_config_from_dict_path_and_scaled_path(tmp_path: Path) -> None:
    cfg = load_model_config("yolov8s.yaml")
    assert cfg["scale"] == "s" and cfg["yaml_file"] == "yolov8.yaml"
    assert sum(p.numel() for p in build_model(cfg).parameters()) == EXPECTED["yolov8s"][0]
    src = packaged_models().joinpath("yolo11.yaml")
    (tmp_path / "yolo11.yaml").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    model = build_model(tmp_path / "yolo11s.yaml")  # scale letter stripped to find the file
    assert model.yaml["yaml_file"] == str(tmp_path / "yolo11.yaml")
    assert sum(p.numel() for p in model.parameters()) == EXPECTED["yolo11s"][0]
    assert build_model(str(tmp_path / "yolo11.yaml"), scale="s").yaml["scale"] == "s"


def test_dict_in_ultralytics_spelling_builds_the_same_model() -> None:
    """Checkpoint importers pass the YAML dict stored in foreign checkpoints: 'None' strings, no c3k_scales."""
    cfg = load_model_config("yolo11n.yaml")
    cfg.pop("c3k_scales")
    cfg.update(scale="m", yaml_file="yolo11n.yaml")
    for row in cfg["head"]:
        row[3] = ["None" if a is None else a for a in row[3]]
    model = build_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == EXPECTED["yolo11m"][0]
    assert model.yaml["name"] == "yolo11m"


def test_available_models_lists_scaled_names() -> None:
    names = available_models()
    for family in ("yolov8", "yolo11"):
        assert f"{family}.yaml" in names
        assert all(f"{family}{s}.yaml" in names for s in "nsmlx")


def test_scaling_rules() -> None:
    assert make_divisible(1024 * 0.25) == 256
    assert make_divisible(100 * 0.33) == 40
    assert [scale_repeats(n, 0.33) for n in (1, 3, 6)] == [1, 1, 2]
    assert scale_repeats(2, 0.5) == 1


def _write_yaml(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(packaged_models().joinpath("yolo11.yaml").read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_unknown_module_names_file_and_valid_modules(tmp_path: Path) -> None:
    path = _write_yaml(tmp_path, lambda d: d["backbone"][3].__setitem__(2, "Conv3000"))
    with pytest.raises(ModelConfigError) as err:
        build_model(path)
    message = str(err.value)
    assert str(path) in message and "Conv3000" in message and "layer 3" in message
    assert "C3k2" in message and "SPPF" in message  # the list of valid modules


def test_unknown_scale_names_file_and_valid_scales(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match=r"yolo11\.yaml: unknown scale 'q'; valid scales: n, s, m, l, x"):
        build_model("yolo11q.yaml")
    path = _write_yaml(tmp_path, lambda d: None)
    with pytest.raises(ModelConfigError, match="unknown scale 'z'") as err:
        build_model(path, scale="z")
    assert str(path) in str(err.value)


def test_missing_file_names_it_and_lists_packaged_models(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError) as err:
        build_model("yolo99n.yaml")
    assert "yolo99n.yaml" in str(err.value) and "yolo11n.yaml" in str(err.value)
    missing = tmp_path / "nowhere" / "model.yaml"
    with pytest.raises(ModelConfigError, match="not found"):
        build_model(missing)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["head"].__setitem__(1, [[-1, 40], 1, "Concat", [1]]), "'from' must refer to earlier"),
        (lambda d: d["backbone"].__setitem__(0, [-1, 1, "Conv"]), "expected [from, repeats, module, args]"),
        (lambda d: d.pop("head"), "'head' must be a non-empty list"),
        (lambda d: d["head"].pop(), "last head layer must be Detect"),
        (lambda d: d["backbone"][0][3].append("oops"), "layer 0 (Conv"),
    ],
)
def test_malformed_rows_point_at_the_file(tmp_path: Path, mutate, fragment: str) -> None:
    path = _write_yaml(tmp_path, mutate)
    with pytest.raises(ModelConfigError) as err:
        build_model(path)
    assert str(path) in str(err.value) and fragment in str(err.value)
