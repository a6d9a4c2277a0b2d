"""read_image / image_size / verify_image on real files of every format and every defect."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from yoloforge.data.images import ImageError, image_size, jpeg_complete, read_image, verify_image

H, W = 24, 32  # stored size: not square, so a rotation shows in the shape


def _pattern() -> np.ndarray:
    """A BGR image whose left half is red and top-left corner white: orientation is visible."""
    im = np.zeros((H, W, 3), np.uint8)
    im[:, : W // 2] = (0, 0, 255)
    im[:4, :4] = 255
    return im


def _write(path: Path, im: np.ndarray) -> Path:
    """cv2.imencode + tofile: works for non-ASCII paths on every platform."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix.lower(), im)
    assert ok
    buf.tofile(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "dossier été 图像"  # non-ASCII and a space


@pytest.mark.parametrize("name", ["a.jpg", "b.JPEG", "c.png", "d.PNG", "e.bmp", "f.tif", "g.TIFF", "h.webp"])
def test_formats_non_ascii_path(folder: Path, name: str) -> None:
    im = _pattern()
    path = _write(folder / f"x y {name}", im)
    out = read_image(str(path))
    assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous
    if path.suffix.lower() in (".png", ".bmp", ".tif", ".tiff"):  # lossless
        np.testing.assert_array_equal(out, im)
    else:
        assert np.abs(out.astype(int) - im).mean() < 8
    assert verify_image(path) == image_size(path) == (H, W)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_applied(folder: Path, orientation: int) -> None:
    folder.mkdir(parents=True)
    path = folder / f"exif {orientation}.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_pattern()[..., ::-1]).save(path, quality=95, exif=exif.tobytes())
    rotate = {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_CLOCKWISE, 8: cv2.ROTATE_90_COUNTERCLOCKWISE}[orientation]
    expected = cv2.rotate(_pattern(), rotate)
    out = read_image(path)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).mean() < 8  # same pixels, rotated the same way
    assert image_size(path) == verify_image(path) == expected.shape[:2]


def test_gray_rgba_16bit_become_bgr8(folder: Path) -> None:
    gray = np.arange(H * W, dtype=np.uint8).reshape(H, W)
    out = read_image(_write(folder / "gray.png", gray))
    assert out.shape == (H, W, 3) and all((out[..., i] == gray).all() for i in range(3))

    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 200, 10  # red, almost transparent
    out = read_image(_write(folder / "rgba.png", rgba))
    assert out.shape == (H, W, 3) and (out == (0, 0, 200)).all()

    deep = np.zeros((H, W), np.uint16)
    deep[0, :4] = (65535, 32768, 4095, 255)
    out = read_image(_write(folder / "deep.png", deep))
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    assert out[0, :4, 0].tolist() == [255, 128, 15, 0]  # scaled by 1/256, not clipped to 255


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.jpg", b"", "empty file"),
        ("text.jpg", b"not an image at all\n", "unreadable"),
        ("missing.jpg", None, "unreadable"),
    ],
)
def test_bad_files_raise_with_path_and_reason(folder: Path, name: str, content: bytes | None, reason: str) -> None:
    folder.mkdir(parents=True)
    path = folder / name
    if content is not None:
        path.write_bytes(content)
    for fn in (read_image, verify_image):
        with pytest.raises(ImageError, match=reason) as e:
            fn(path)
        assert str(path) in str(e.value) and isinstance(e.value, ValueError)


def test_truncated_jpeg_and_png_detected(folder: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    full = _write(folder / "full.jpg", noise).read_bytes()
    cut = folder / "cut.jpg"
    cut.write_bytes(full[: len(full) * 2 // 3])  # header intact, scan data cut short
    with pytest.raises(ImageError, match="truncated JPEG"):
        verify_image(cut)
    assert image_size(cut) == (64, 64)  # the header alone still says 64x64: cheap, not a check

    padded = folder / "padded.jpg"  # bytes after the end marker (some cameras) are harmless
    padded.write_bytes(full + b"\x00" * 16)
    assert verify_image(padded) == (64, 64) and jpeg_complete(padded.read_bytes())

    png = _write(folder / "full.png", noise).read_bytes()
    (folder / "cut.png").write_bytes(png[: len(png) // 2])
    with pytest.raises(ImageError, match=r"cut\.png"):
        verify_image(folder / "cut.png")


def test_image_size_without_pillow(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(folder / "a.jpg", _pattern())
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import ...` now raises ImportError
    assert image_size(path) == (H, W)


def test_coco128_sizes_agree(coco128_dir: Path) -> None:
    files = sorted((coco128_dir / "images" / "train2017").glob("*.jpg"))[:8]
    for f in files:
        im = read_image(f)
        assert im.ndim == 3 and im.shape[2] == 3
        assert image_size(f) == verify_image(f) == im.shape[:2]


def test_image_error_pickles() -> None:
    e = pickle.loads(pickle.dumps(ImageError("/a b/c.jpg", "empty file (0 bytes)")))
    assert isinstance(e, ImageError) and e.path == "/a b/c.jpg" and str(e) == "/a b/c.jpg: empty file (0 bytes)"
