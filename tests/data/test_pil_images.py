"""A PIL image of any mode gives the pixels read_image gives for the same picture in a file, or a clear refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from yoloforge.data.images import ImageError, pil_to_bgr, read_image

H, W = 24, 32
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (H, W), dtype=np.uint8)  # varied, so blending instead of dropping would show
U16 = RNG.integers(0, 65536, (H, W), dtype=np.uint16)


def _pictures() -> dict[str, tuple[Image.Image, str]]:
    """mode -> (image, a file format that stores that mode losslessly and our reader reads)."""
    base = Image.fromarray(RGB)
    return {
        "1": (base.convert("1"), "png"),
        "L": (base.convert("L"), "png"),
        "P": (base.convert("P"), "png"),
        "RGB": (base, "png"),
        "RGBA": (Image.fromarray(np.dstack([RGB, ALPHA]), "RGBA"), "png"),
        "LA": (Image.fromarray(np.dstack([RGB[..., 0], ALPHA]), "LA"), "png"),
        "PA": (base.convert("P").convert("PA"), "tif"),
        "I;16": (Image.fromarray(U16), "png"),
        "I;16B": (Image.fromarray(U16).convert("I;16B"), "tif"),
        "CMYK": (base.convert("CMYK"), "tif"),
        "YCbCr": (base.convert("YCbCr"), "tif"),
    }


@pytest.mark.parametrize("mode", list(_pictures()))
def test_same_pixels_as_the_file(mode: str, tmp_path: Path) -> None:
    image, fmt = _pictures()[mode]
    assert image.mode == mode
    path = tmp_path / f"picture.{fmt}"
    image.save(path)
    from_file = read_image(path)
    # colour transforms (CMYK, YCbCr) round their own way in each decoder: one level; everything else exact
    tolerance = 1 if mode in ("CMYK", "YCbCr") else 0
    for pil in (image, Image.open(path)):
        ours = pil_to_bgr(pil)
        assert ours.shape == (H, W, 3) and ours.dtype == np.uint8 and ours.flags.c_contiguous
        assert np.abs(ours.astype(int) - from_file).max() <= tolerance, pil.mode


def test_32_bit_integers_read_as_16_bit_samples(tmp_path: Path) -> None:
    """Mode "I" is how older Pillow opened 16-bit PNGs: its pixels are the 16-bit file's."""
    Image.fromarray(U16).save(tmp_path / "deep.png")
    as_int = Image.fromarray(U16.astype(np.int32))
    assert as_int.mode == "I"
    np.testing.assert_array_equal(pil_to_bgr(as_int), read_image(tmp_path / "deep.png"))


def test_premultiplied_alpha_is_undone_before_alpha_is_dropped(tmp_path: Path) -> None:
    image = Image.fromarray(np.dstack([RGB, ALPHA]), "RGBA")
    image.save(tmp_path / "a.png")
    ours = pil_to_bgr(image.convert("RGBa")).astype(int)
    visible = ALPHA > 16  # where premultiplying kept enough of the colour to get it back
    assert np.abs(ours - read_image(tmp_path / "a.png"))[visible].max() <= 8


def test_hsv_is_the_rgb_picture_it_holds(tmp_path: Path) -> None:
    hsv = Image.fromarray(RGB).convert("HSV")  # no file format stores HSV: its RGB rendition is the picture
    hsv.convert("RGB").save(tmp_path / "hsv.png")
    np.testing.assert_array_equal(pil_to_bgr(hsv), read_image(tmp_path / "hsv.png"))
    assert np.abs(pil_to_bgr(hsv).astype(int) - RGB[..., ::-1]).mean() < 3  # and close to the original colours


def test_exif_orientation_is_applied_as_the_reader_does(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 32 wide, shown 24 wide
    Image.fromarray(RGB).save(tmp_path / "turned.png", exif=exif.tobytes())
    opened = Image.open(tmp_path / "turned.png")
    assert opened.size == (W, H)
    np.testing.assert_array_equal(pil_to_bgr(opened), read_image(tmp_path / "turned.png"))
    assert pil_to_bgr(opened).shape == (W, H, 3)


@pytest.mark.parametrize(
    ("image", "says"),
    [
        (Image.fromarray(RGB[..., 0].astype(np.float32) / 255), "PIL mode 'F' (32-bit float) has no 0-255 scale"),
        (Image.fromarray(U16.astype(np.int32) * 4), "PIL mode 'I' holds values"),
        (Image.fromarray(np.where(U16 > 30000, -1, 7).astype(np.int32)), "values -1..7, outside 0..65535"),
    ],
)
def test_modes_without_a_file_equivalent_are_refused_by_name(image: Image.Image, says: str) -> None:
    with pytest.raises(ImageError) as e:
        pil_to_bgr(image, "frame.jpg")
    assert str(e.value).startswith("frame.jpg: ") and says in str(e.value)


def test_predict_on_a_pil_image_equals_predict_on_its_file(tmp_path: Path, fixtures_dir: Path, coco128_dir) -> None:
    """Through the predictor: a 16-bit PNG opened by Pillow detects what the file itself detects."""
    from yoloforge import YOLO

    bgr = read_image(coco128_dir / "images" / "train2017" / "000000000009.jpg")
    deep = (bgr[..., 1].astype(np.uint16) << 8) | RNG.integers(0, 256, bgr.shape[:2], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    model = YOLO(str(fixtures_dir / "yolo11n-coco128-overfit160.pt"))
    kw = {"imgsz": 160, "device": "cpu", "conf": 0.01, "verbose": False}
    from_file, from_pil = model.predict(str(path), **kw)[0], model.predict(Image.open(path), **kw)[0]
    assert len(from_file.boxes.data) > 0
    assert np.array_equal(from_file.boxes.data.numpy(), from_pil.boxes.data.numpy())
