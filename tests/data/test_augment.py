"""Boxes stay on their objects through every augmentation.

Synthetic images hold filled shapes of distinct saturated colours on a grey ground; each shape's class
is its colour's index, so after a transform every box can be checked against the pixels it covers:
mostly its colour inside (fill), and hardly any of its colour just outside (it does not cut the object).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yoloforge.cfg.schema import RunConfig
from yoloforge.data.augment import (
    ChannelSwap,
    Compose,
    CopyPaste,
    CutMix,
    LetterBox,
    MixUp,
    Mosaic,
    RandomFlip,
    RandomHSV,
    RandomPerspective,
    SampleSource,
    build_train_transforms,
    build_val_transforms,
    letterbox,
    transform_labels,
    warp_image,
)
from yoloforge.utils.boxes import scale_boxes

# BGR colours with every channel at 0 or 255: no colour is a blend of two others or of the greys.
PALETTE = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255]], np.uint8)
GROUND, TOL = 60, 40
STRONG = {"degrees": 30.0, "shear": 10.0, "scale": 0.5, "translate": 0.2, "perspective": 0.0005}
# A circle's box is pi/4 = 0.785 its colour under rotation and scale; the two +/-10 degree shears can
# stretch it into a 1.43:1 ellipse, tilted: 0.737, less the edge pixels outside the colour tolerance.
ROUND_FILL = 0.65
SEEDS = range(6)


def make_sample(
    objects: list[tuple[int, float, float, float, float]], size=(480, 640), shape="rect", segments=True
) -> dict:
    """objects: (colour index, x1, y1, x2, y2); circles fill their box; segments are polygons."""
    h, w = size
    img = np.full((h, w, 3), GROUND, np.uint8)
    yy, xx = np.mgrid[:h, :w] + 0.5  # pixel centres: a shape is exactly the pixels centred inside it
    segs = []
    for c, x1, y1, x2, y2 in objects:
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        if shape == "circle":
            t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
            poly = np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)
            img[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1] = PALETTE[c]
        else:
            poly = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)
            img[(abs(xx - cx) <= rx) & (abs(yy - cy) <= ry)] = PALETTE[c]
        segs.append(poly.astype(np.float32))
    return {
        "img": img,
        "cls": np.array([o[0] for o in objects], np.int64),
        "bboxes": np.array([o[1:] for o in objects], np.float32).reshape(-1, 4),
        "segments": segs if segments else [],
        "im_file": f"synthetic{len(objects)}.png",
        "ori_shape": (h, w),
        "resized_shape": (h, w),
    }


def colour_mask(img: np.ndarray, c: int) -> np.ndarray:
    lo, hi = np.clip(PALETTE[c].astype(int) - TOL, 0, 255), np.clip(PALETTE[c].astype(int) + TOL, 0, 255)
    return cv2.inRange(img, tuple(lo.tolist()), tuple(hi.tolist())) > 0


def check_boxes(out: dict, fill_min: float, cut_fill_min: float | None = None) -> None:
    """Each box: >= fill_min of it is its colour, and its colour barely continues outside it.

    cut_fill_min applies to objects cut by the image side or by the warp's border (grey 114 in the
    box): a part of a shape fills its box less. A colour with no pixels left has no box.
    """
    img, boxes, cls = out["img"], out["bboxes"], out["cls"]
    h, w = img.shape[:2]
    check_format(out)
    masks = [colour_mask(img, c) for c in range(len(PALETTE))]
    border = cv2.inRange(img, (111, 111, 111), (117, 117, 117)) > 0
    for c, mask in enumerate(masks):
        if not mask.any():
            assert c not in cls, f"class {c} has a box but no pixels"
    for b, c in zip(boxes, cls, strict=True):
        mask = masks[c]
        x1, y1, x2, y2 = np.round(b).astype(int)
        inside = mask[y1:y2, x1:x2].sum()
        fill = inside / max((x2 - x1) * (y2 - y1), 1)
        cut = x1 <= 1 or y1 <= 1 or x2 >= w - 1 or y2 >= h - 1 or border[y1:y2, x1:x2].any()
        need = cut_fill_min if cut and cut_fill_min is not None else fill_min
        assert fill >= need, f"box {b} of class {c} is only {fill:.2f} its colour"
        grown = mask[max(y1 - 4, 0) : y2 + 4, max(x1 - 4, 0) : x2 + 4].sum()
        assert grown - inside <= 0.02 * inside + 8, f"box {b} of class {c} cuts its object"


def check_format(out: dict) -> None:
    img, boxes, cls = out["img"], out["bboxes"], out["cls"]
    h, w = img.shape[:2]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.flags.c_contiguous
    assert boxes.dtype == np.float32 and boxes.shape == (len(cls), 4) and cls.dtype == np.int64
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all()
    assert out["segments"] == [] or len(out["segments"]) == len(cls)
    for s in out["segments"]:
        assert s.dtype == np.float32 and s.ndim == 2 and s.shape[1] == 2


def check_fully_visible_kept(out: dict) -> None:
    """Every colour that lies wholly inside the image (touches no side) has a box."""
    img = out["img"]
    for c in range(len(PALETTE)):
        mask = colour_mask(img, c)
        if mask.sum() > 50 and not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()):
            assert c in out["cls"], f"class {c} is fully visible but lost its box"


class ListSource:
    """A tiny SampleSource over prepared samples; counts loads."""

    def __init__(self, samples: list[dict]) -> None:
        self.samples, self.loads = samples, 0

    def __len__(self) -> int:
        return len(self.samples)

    def load_sample(self, i: int) -> dict:
        self.loads += 1
        return self.samples[i]


def source_of_shapes(shape="rect", segments=True) -> ListSource:
    """Four 640-long images with 1-2 round (or square) objects each, all away from the image sides."""
    layouts = [
        [(0, 60, 50, 260, 250), (1, 340, 200, 560, 420)],
        [(2, 80, 120, 400, 440)],
        [(3, 40, 60, 240, 260), (4, 330, 220, 530, 420)],
        [(5, 180, 140, 420, 380)],
    ]
    sizes = [(480, 640), (640, 480), (480, 640), (640, 560)]
    return ListSource([make_sample(o, s, shape, segments) for o, s in zip(layouts, sizes, strict=True)])


# --- geometric -------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_perspective_polygons_keep_boxes_tight(seed):
    sample = make_sample([(0, 40, 40, 200, 200), (1, 300, 100, 520, 320), (2, 150, 280, 330, 460)], shape="circle")
    out = RandomPerspective(**STRONG, imgsz=640)(sample, np.random.default_rng(seed))
    assert out["img"].shape == (640, 640, 3)
    check_boxes(out, fill_min=ROUND_FILL, cut_fill_min=0.5)
    check_fully_visible_kept(out)


@pytest.mark.parametrize("seed", SEEDS)
def test_perspective_boxes_by_corners(seed):
    """Without polygons a rotated rectangle's box holds its corners: at 30 degrees + shear, ~40% fill."""
    sample = make_sample([(3, 40, 40, 200, 200), (4, 300, 100, 560, 300)], segments=False)
    out = RandomPerspective(**STRONG, imgsz=640)(sample, np.random.default_rng(seed))
    assert out["segments"] == []
    check_boxes(out, fill_min=0.3)
    check_fully_visible_kept(out)


@pytest.mark.parametrize("seed", SEEDS)
def test_scale_translate_only_is_tight(seed):
    sample = make_sample([(0, 40, 40, 200, 200), (5, 300, 100, 560, 300)], segments=False)
    out = RandomPerspective(translate=0.2, scale=0.5, imgsz=640)(sample, np.random.default_rng(seed))
    check_boxes(out, fill_min=0.9)
    check_fully_visible_kept(out)


def test_objects_pushed_out_are_dropped():
    """A known shift: one box leaves entirely, one keeps 5% (dropped), one keeps 55% (kept, clipped)."""
    boxes = np.array([[10, 10, 50, 50], [100, 10, 200, 50], [150, 10, 250, 50]], np.float32)
    m = np.eye(3)
    m[0, 2] = -195  # x -> x - 195
    out, segs, keep = transform_labels(boxes, [], m, (640, 640))
    assert keep.tolist() == [False, False, True] and segs == []
    np.testing.assert_allclose(out, [[0, 10, 55, 50]])
    out, _, keep = transform_labels(boxes, [], m, (640, 640), visible=np.array([1, 1, 0.15], np.float32))
    assert not keep.any()  # 55% of a box that was already 15% visible: under 10% overall


def test_tiny_and_thin_boxes_are_dropped():
    boxes = np.array([[10, 10, 11.5, 40], [10, 10, 200, 12.5], [10, 10, 600, 15], [5, 5, 25, 25]], np.float32)
    _, _, keep = transform_labels(boxes, [], np.eye(3), (640, 640))
    assert keep.tolist() == [False, True, False, True]  # < 2 px; fine; aspect 118 > 100; fine


def test_rotated_box_cut_by_the_side_is_bounded_tightly():
    """A 45-degree diamond half outside: its box is the visible part's, not the clipped quad's bounds."""
    m = np.eye(3)
    m[:2, :2] = np.array([[1, -1], [1, 1]]) / np.sqrt(2)  # rotate 45 degrees about the origin
    m[:2, 2] = [0, 300]
    boxes, _, _ = transform_labels(np.array([[-50, -50, 50, 50]], np.float32), [], m, (640, 640))
    np.testing.assert_allclose(boxes, [[0, 300 - 70.71, 70.71, 300 + 70.71]], atol=0.01)


def test_upright_fast_path_matches_polygon_clipping():
    """Scale + translate only: clipping boxes directly equals clipping their corner polygons."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(-200, 800, (50, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 300, (50, 2))], 1).astype(np.float32)
    corners = [b[[0, 1, 2, 1, 2, 3, 0, 3]].reshape(4, 2) for b in boxes]
    m = np.diag([1.3, 0.8, 1.0])
    m[:2, 2] = [-40, 25]
    fast, _, keep_fast = transform_labels(boxes, [], m, (640, 640))
    poly, _, keep_poly = transform_labels(boxes, corners, m, (640, 640))
    np.testing.assert_array_equal(keep_fast, keep_poly)
    np.testing.assert_allclose(fast, poly, atol=1e-3)


def test_four_channel_warp_matches_opencv():
    """warp_image's BGRA detour and half-pixel handling give OpenCV's own 3-channel result."""
    img = np.random.default_rng(0).integers(0, 256, (300, 400, 3), np.uint8)
    affine = RandomPerspective(degrees=20, shear=5, imgsz=320)
    m = affine.random_matrix(np.random.default_rng(1), (200, 150), (320, 320))
    mp = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]]) @ m @ np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    ref = cv2.warpAffine(img, mp[:2], (320, 320), flags=cv2.INTER_LINEAR, borderValue=(114, 114, 114))
    assert np.abs(warp_image(img, m, (320, 320)).astype(int) - ref).max() <= 1


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_flip(direction):
    sample = make_sample([(0, 40, 60, 200, 200), (1, 300, 100, 560, 300)], shape="circle")
    out = RandomFlip(1.0, direction)(sample, np.random.default_rng(0))
    check_boxes(out, fill_min=0.7)
    check_fully_visible_kept(out)
    axis = 1 if direction == "horizontal" else 0
    np.testing.assert_array_equal(out["img"], np.flip(sample["img"], axis))
    twice = RandomFlip(1.0, direction)(out, np.random.default_rng(0))
    np.testing.assert_allclose(twice["bboxes"], sample["bboxes"])
    np.testing.assert_allclose(twice["segments"][1], sample["segments"][1], atol=1e-4)
    assert RandomFlip(0.0, direction)(sample, np.random.default_rng(0)) is sample


# --- mosaic and mixing -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", ["circle", "rect"])
def test_mosaic_with_strong_affine(seed, shape):
    src = source_of_shapes(shape, segments=shape == "circle")
    rng = np.random.default_rng(seed)
    out = Mosaic(src, 640, RandomPerspective(**STRONG, imgsz=640))(src.samples[0], rng)
    assert out["img"].shape == (640, 640, 3) and src.loads == 3
    check_boxes(out, fill_min=ROUND_FILL if shape == "circle" else 0.3, cut_fill_min=0.5 if shape == "circle" else 0.3)


@pytest.mark.parametrize("seed", SEEDS)
def test_mosaic_axis_aligned(seed):
    src = source_of_shapes("rect", segments=False)
    out = Mosaic(src, 640, RandomPerspective(translate=0.1, scale=0.5, imgsz=640))(
        src.samples[1], np.random.default_rng(seed)
    )
    check_boxes(out, fill_min=0.9)


def test_mosaic_without_affine_matches_the_canvas():
    """Identity affine: the output is exactly the centre imgsz crop of the classic 2*imgsz canvas."""
    src = source_of_shapes("rect")
    out = Mosaic(src, 320, None)(src.samples[0], np.random.default_rng(3))
    assert out["img"].shape == (320, 320, 3)
    rng = np.random.default_rng(3)  # replay Mosaic's draws: the 3 picks, then the centre
    picks = rng.integers(0, 4, 3)
    xc, yc = (int(v) for v in rng.uniform(160, 480, 2))
    canvas = np.full((640, 640, 3), 114, np.uint8)
    for i, t in enumerate([src.samples[0], *(src.samples[j] for j in picks)]):
        h, w = t["img"].shape[:2]
        x0, y0 = (xc - w if i in (0, 2) else xc), (yc - h if i in (0, 1) else yc)
        ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + w, 640), min(y0 + h, 640)
        canvas[ay0:ay1, ax0:ax1] = t["img"][ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
    np.testing.assert_array_equal(out["img"], canvas[160:480, 160:480])
    check_boxes(out, fill_min=0.9)


def test_mosaic_probability_zero_and_close_mosaic_skip_the_source():
    src = source_of_shapes()
    rng = np.random.default_rng(0)
    Mosaic(src, 640, RandomPerspective(imgsz=640), p=0.0)(src.samples[0], rng)
    assert src.loads == 0
    cfg = RunConfig(mosaic=1.0, mixup=1.0, cutmix=1.0)
    pipe = build_train_transforms(cfg, 640, src)
    pipe(src.samples[0], rng)
    assert src.loads > 0
    pipe.close_mosaic()
    src.loads = 0
    for seed in SEEDS:
        out = pipe(src.samples[2], np.random.default_rng(seed))
        assert set(out["cls"].tolist()) <= {3, 4}
    assert src.loads == 0
    pipe.set_mix(True)
    pipe(src.samples[2], rng)
    assert src.loads > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_mixup_blends_and_concatenates(seed):
    src = source_of_shapes("circle")
    stage = RandomPerspective(translate=0.1, scale=0.3, imgsz=640)
    base = stage(src.samples[0], np.random.default_rng(100 + seed))
    rng = np.random.default_rng(seed)
    out = MixUp(src, stage, p=1.0)(base, rng)
    check_format(out)
    # replay the draws: which sample, its warp, the ratio
    rng = np.random.default_rng(seed)
    rng.random()
    other = stage(src.samples[int(rng.integers(0, 4))], rng)
    r = rng.beta(32.0, 32.0)
    assert len(out["cls"]) == len(base["cls"]) + len(other["cls"])
    np.testing.assert_array_equal(out["bboxes"], np.concatenate([base["bboxes"], other["bboxes"]]))
    expect = base["img"] * r + other["img"] * (1 - r)
    assert np.abs(out["img"] - expect).max() <= 1.0
    assert len(out["segments"]) == len(out["cls"])


@pytest.mark.parametrize("seed", SEEDS)
def test_cutmix_pastes_an_unmixed_rectangle(seed):
    src = source_of_shapes("rect", segments=False)
    base = make_sample([(0, 20, 20, 120, 120)], size=(640, 640), segments=False)
    stage = RandomPerspective(translate=0.1, scale=0.2, imgsz=640)
    out = CutMix(src, stage, p=1.0, tries=20)(base, np.random.default_rng(seed))
    check_format(out)
    assert out["cls"][0] == 0 and np.array_equal(out["bboxes"][0], base["bboxes"][0])
    n_new = len(out["cls"]) - 1
    if n_new == 0:
        np.testing.assert_array_equal(out["img"], base["img"])
        return
    changed = np.argwhere((out["img"] != base["img"]).any(2))
    (y0, x0), (y1, x1) = changed.min(0), changed.max(0) + 1
    for b in out["bboxes"][1:]:  # pasted boxes lie inside the pasted rectangle
        assert b[0] >= x0 - 1 and b[1] >= y0 - 1 and b[2] <= x1 + 1 and b[3] <= y1 + 1
    check_boxes(out, fill_min=0.9)  # the pasted pixels are unmixed


@pytest.mark.parametrize("seed", SEEDS)
def test_copy_paste_flip(seed):
    sample = make_sample([(0, 30, 40, 170, 200), (1, 200, 300, 280, 420)], size=(640, 640), shape="circle")
    out = CopyPaste(p=1.0, mode="flip")(sample, np.random.default_rng(seed))
    assert len(out["cls"]) == 4 and sorted(out["cls"].tolist()) == [0, 0, 1, 1]
    assert len(out["segments"]) == 4
    check_boxes(out, fill_min=0.7)
    # an object whose mirror image would hide it is not pasted
    centred = make_sample([(2, 270, 200, 370, 300)], size=(640, 640), shape="circle")
    assert CopyPaste(p=1.0)(centred, np.random.default_rng(seed)) is centred
    # without polygons there is nothing to paste
    plain = make_sample([(2, 30, 40, 170, 200)], segments=False)
    assert CopyPaste(p=1.0)(plain, np.random.default_rng(seed)) is plain


@pytest.mark.parametrize("seed", SEEDS)
def test_copy_paste_mixup_mode(seed):
    src = source_of_shapes("circle")
    stage = RandomPerspective(translate=0.1, scale=0.3, imgsz=640)
    base = make_sample([(5, 20, 20, 80, 80)], size=(640, 640), shape="circle")
    out = CopyPaste(1.0, "mixup", src, stage, max_occlusion=0.0)(base, np.random.default_rng(seed))
    assert len(out["cls"]) >= 1 and out["cls"][0] == 5
    check_boxes(out, fill_min=0.6, cut_fill_min=0.5)


# --- colour ----------------------------------------------------------------------------------------


def test_hsv():
    sample = make_sample([(0, 40, 40, 200, 200), (3, 300, 100, 560, 300)])
    assert RandomHSV(0, 0, 0)(sample, np.random.default_rng(0)) is sample
    out = RandomHSV(0.5, 0.5, 0.5)(sample, np.random.default_rng(0))
    assert out["img"].shape == sample["img"].shape and out["img"].dtype == np.uint8
    assert out["img"].flags.c_contiguous and not np.array_equal(out["img"], sample["img"])
    np.testing.assert_array_equal(out["bboxes"], sample["bboxes"])
    # a pure hue shift: pure blue (hue 120 of 180) moves by shift*180, saturation and value stay
    blue = {**sample, "img": np.full((8, 8, 3), (255, 0, 0), np.uint8)}
    out = RandomHSV(0.1, 0, 0)(blue, np.random.default_rng(1))
    shift = np.random.default_rng(1).uniform(-1, 1, 3)[0] * 0.1
    hsv = cv2.cvtColor(out["img"], cv2.COLOR_BGR2HSV)[0, 0].astype(int)
    assert abs(hsv[0] - (120 + shift * 180)) <= 1.5 and hsv[1] >= 250 and hsv[2] >= 250
    grey = {**sample, "img": np.full((8, 8, 3), 100, np.uint8)}
    out = RandomHSV(0, 0, 0.5)(grey, np.random.default_rng(2))
    gain = 1 + np.random.default_rng(2).uniform(-1, 1, 3)[2] * 0.5
    assert abs(int(out["img"][0, 0, 0]) - 100 * gain) <= 1


def test_bgr_swap():
    sample = make_sample([(0, 40, 40, 200, 200)])
    out = ChannelSwap(1.0)(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(out["img"], sample["img"][..., ::-1])
    assert out["img"].flags.c_contiguous
    assert ChannelSwap(0.0)(sample, np.random.default_rng(0)) is sample


# --- letterbox -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "new", "kw"),
    [((480, 640), 640, {}), ((427, 640), (384, 640), {"auto": True}), ((300, 200), 640, {"scaleup": False})],
)
def test_letterbox_round_trip(shape, new, kw):
    objs = [(0, 10, 20, 110, 150), (1, 150, 30, 190, 290)]
    sample = make_sample(objs, size=shape, segments=False)
    h0, w0 = 2 * shape[0] + 1, 2 * shape[1] - 1  # as if load had halved a larger original
    sample["ori_shape"] = (h0, w0)
    out = LetterBox(new, **kw)(sample)
    check_boxes(out, fill_min=0.9)
    img, _ = letterbox(sample["img"], new, **kw)
    np.testing.assert_array_equal(img, out["img"])
    if not kw.get("auto"):
        assert out["img"].shape[:2] == ((new, new) if isinstance(new, int) else new)
    back = scale_boxes(out["bboxes"], img.shape[:2], (h0, w0), ratio_pad=out["ratio_pad"])
    expect = sample["bboxes"] * np.array([w0 / shape[1], h0 / shape[0]] * 2, np.float32)
    np.testing.assert_allclose(back, expect, atol=1.0)
    torch = pytest.importorskip("torch")
    back_t = scale_boxes(torch.from_numpy(out["bboxes"]), img.shape[:2], (h0, w0), ratio_pad=out["ratio_pad"])
    np.testing.assert_allclose(back_t.numpy(), back, atol=1e-4)


def test_val_transforms_use_rect_shape():
    sample = make_sample([(0, 10, 20, 110, 150)], size=(480, 640), segments=False)
    pipe = build_val_transforms(640)
    assert pipe(sample, np.random.default_rng(0))["img"].shape == (640, 640, 3)
    out = pipe({**sample, "rect_shape": (512, 640)}, np.random.default_rng(0))
    assert out["img"].shape == (512, 640, 3)
    check_boxes(out, fill_min=0.9)


# --- pipelines -------------------------------------------------------------------------------------

ALL_ON = {
    **STRONG,
    "mosaic": 1.0,
    "mixup": 0.5,
    "cutmix": 0.5,
    "copy_paste": 0.5,
    "fliplr": 0.5,
    "flipud": 0.5,
    "bgr": 0.5,
}


def test_same_seed_same_output():
    src = source_of_shapes("circle")
    pipe = build_train_transforms(RunConfig(**ALL_ON), 320, src)
    for seed in SEEDS:
        a = pipe(src.samples[seed % 4], np.random.default_rng(seed))
        b = pipe(src.samples[seed % 4], np.random.default_rng(seed))
        np.testing.assert_array_equal(a["img"], b["img"])
        np.testing.assert_array_equal(a["bboxes"], b["bboxes"])
        np.testing.assert_array_equal(a["cls"], b["cls"])
        check_format(a)
    c = pipe(src.samples[0], np.random.default_rng(99))
    assert not np.array_equal(c["img"], pipe(src.samples[0], np.random.default_rng(98))["img"])


def test_zero_probabilities_leave_transforms_out():
    cfg = RunConfig(mosaic=0, mixup=0, cutmix=0, copy_paste=0, hsv_h=0, hsv_s=0, hsv_v=0, fliplr=0, bgr=0)
    pipe = build_train_transforms(cfg, 640, source_of_shapes())
    assert [type(t).__name__ for t in pipe.transforms] == ["Mosaic"]
    full = build_train_transforms(RunConfig(**ALL_ON), 640, source_of_shapes())
    names = [type(t).__name__ for t in full.transforms]
    assert names == ["Mosaic", "CopyPaste", "MixUp", "CutMix", "RandomHSV", "RandomFlip", "RandomFlip", "ChannelSwap"]
    assert "CutMix" not in repr(build_train_transforms(RunConfig(**ALL_ON, rect=True), 640, source_of_shapes()))


def test_inputs_are_not_modified():
    src = source_of_shapes("circle")
    before = [(s["img"].copy(), s["bboxes"].copy(), [p.copy() for p in s["segments"]]) for s in src.samples]
    pipe = build_train_transforms(RunConfig(**ALL_ON), 320, src)
    for seed in SEEDS:
        pipe(src.samples[seed % 4], np.random.default_rng(seed))
    for s, (img, boxes, segs) in zip(src.samples, before, strict=True):
        np.testing.assert_array_equal(s["img"], img)
        np.testing.assert_array_equal(s["bboxes"], boxes)
        for a, b in zip(s["segments"], segs, strict=True):
            np.testing.assert_array_equal(a, b)


def test_list_source_is_a_sample_source():
    assert isinstance(source_of_shapes(), SampleSource)
    assert isinstance(build_val_transforms(320), Compose)


# --- real images -----------------------------------------------------------------------------------


def load_coco(coco128_dir: Path, name: str, imgsz: int = 640) -> dict:
    img = cv2.imread(str(coco128_dir / "images" / "train2017" / f"{name}.jpg"))
    h0, w0 = img.shape[:2]
    r = imgsz / max(h0, w0)
    img = cv2.resize(img, (round(w0 * r), round(h0 * r)), interpolation=cv2.INTER_LINEAR)
    h, w = img.shape[:2]
    lab = np.loadtxt(coco128_dir / "labels" / "train2017" / f"{name}.txt", ndmin=2)
    xywh = lab[:, 1:] * [w, h, w, h]
    boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
    return {
        "img": img,
        "cls": lab[:, 0].astype(np.int64),
        "bboxes": boxes.astype(np.float32),
        "segments": [],
        "im_file": name,
        "ori_shape": (h0, w0),
        "resized_shape": (h, w),
    }


def test_real_coco_image(coco128_dir):
    names = ["000000000009", "000000000025", "000000000030", "000000000034"]
    src = ListSource([load_coco(coco128_dir, n) for n in names])
    first = src.samples[0]
    assert first["img"].shape == (480, 640, 3) and len(first["cls"]) == 8
    pipe = build_train_transforms(RunConfig(**ALL_ON), 640, src)
    for seed in SEEDS:
        out = pipe(first, np.random.default_rng(seed))
        check_format(out)
        assert out["img"].shape == (640, 640, 3) and out["segments"] == []
        assert set(out["cls"].tolist()) <= {int(c) for s in src.samples for c in s["cls"]}
    pipe.close_mosaic()
    out = pipe(first, np.random.default_rng(0))
    check_format(out)
    assert set(out["cls"].tolist()) <= set(first["cls"].tolist())
    val = build_val_transforms(640)(first, np.random.default_rng(0))
    back = scale_boxes(val["bboxes"], val["img"].shape[:2], val["ori_shape"], ratio_pad=val["ratio_pad"])
    h0, w0 = first["ori_shape"]
    np.testing.assert_allclose(back, first["bboxes"] * np.array([w0 / 640, h0 / 480] * 2), atol=1.0)
