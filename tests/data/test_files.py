"""Listing a split's images and pairing their labels, on real coco128 files and real folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from yoloforge.data.files import (
    IMG_FORMATS,
    DatasetError,
    is_image,
    label_path_for,
    label_paths_for,
    list_images,
)
from yoloforge.errors import YoloforgeError

IDS = ["000000000009", "000000000025", "000000000030"]


def _split(coco128_dir: Path, root: Path, ids: list[str] = IDS, ext: str = ".jpg") -> Path:
    """root/images/train with real coco128 images (and their labels), renamed to `ext`."""
    for sub in ("images/train", "labels/train"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in ids:
        shutil.copyfile(coco128_dir / "images/train2017" / f"{i}.jpg", root / "images/train" / f"{i}{ext}")
        shutil.copyfile(coco128_dir / "labels/train2017" / f"{i}.txt", root / "labels/train" / f"{i}.txt")
    return root / "images/train"


def test_img_formats() -> None:
    assert {"jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"} == IMG_FORMATS
    assert is_image("a.JPG") and is_image("b.Tiff") and is_image("c.webp")
    assert not is_image("a.txt") and not is_image("jpg") and not is_image("._a.jpg")


def test_coco128_folder_is_listed_sorted_and_absolute(coco128_dir: Path) -> None:
    images = list_images(coco128_dir / "images" / "train2017")
    assert len(images) == 128
    assert images == sorted(images)
    assert all(os.path.isabs(p) and p.endswith(".jpg") for p in images)
    labels = label_paths_for(images)
    assert sum(os.path.isfile(p) for p in labels) == 126  # 000000000250 and 000000000508 have none
    assert labels[0] == str(coco128_dir / "labels" / "train2017" / "000000000009.txt")


def test_folder_is_recursive_case_insensitive_and_skips_non_images(tmp_path: Path, coco128_dir: Path) -> None:
    train = _split(coco128_dir, tmp_path, IDS[:1])
    (train / "sub" / "deeper").mkdir(parents=True)
    shutil.copyfile(train / f"{IDS[0]}.jpg", train / "sub" / "deeper" / "UPPER.JPG")
    shutil.copyfile(train / f"{IDS[0]}.jpg", train / "sub" / "mixed.PnG")
    (train / "notes.txt").write_text("not an image")
    (train / "__MACOSX").mkdir()
    (train / "__MACOSX" / "x.jpg").write_bytes(b"resource fork")
    (train / "._y.jpg").write_bytes(b"resource fork")
    names = [os.path.relpath(p, train) for p in list_images(train)]
    assert names == sorted([f"{IDS[0]}.jpg", "sub/deeper/UPPER.JPG", "sub/mixed.PnG"])


def test_list_of_folders_keeps_the_given_order(tmp_path: Path, coco128_dir: Path) -> None:
    b = _split(coco128_dir, tmp_path / "b", IDS[:2])
    a = _split(coco128_dir, tmp_path / "a", IDS[2:])
    images = list_images([b, str(a)])
    assert [Path(p).parent for p in images] == [b, b, a]


def test_txt_list_resolves_relative_lines_against_its_folder(
    tmp_path: Path, coco128_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "my set"
    train = _split(coco128_dir, root)
    (root / "lists").mkdir()
    txt = root / "lists" / "train.txt"
    txt.write_text(
        f"# the training images\n../images/train/{IDS[1]}.jpg\n\n  ./../images/train/{IDS[0]}.jpg  \n"
        f"{train / IDS[2]}.jpg\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    assert list_images(txt) == [str(train / f"{i}.jpg") for i in (IDS[1], IDS[0], IDS[2])]


def test_txt_list_with_missing_images_names_them(tmp_path: Path, coco128_dir: Path) -> None:
    _split(coco128_dir, tmp_path)
    txt = tmp_path / "val.txt"
    txt.write_text(f"images/train/{IDS[0]}.jpg\nimages/train/gone.jpg\n")
    with pytest.raises(DatasetError, match=r"val\.txt lists 1 image\(s\) that do not exist: .*images/train/gone\.jpg"):
        list_images(txt)


def test_single_image_is_a_source(tmp_path: Path, coco128_dir: Path) -> None:
    img = _split(coco128_dir, tmp_path, IDS[:1]) / f"{IDS[0]}.jpg"
    assert list_images(img) == [str(img)]


def test_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "images").mkdir(parents=True)
    (tmp_path / "empty" / "images" / "readme.md").write_text("no images here")
    with pytest.raises(DatasetError, match=r"no images found in .*empty/images \(looked for bmp, jpeg"):
        list_images(tmp_path / "empty" / "images")


def test_missing_source_and_wrong_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"image source .*nowhere does not exist"):
        list_images(tmp_path / "nowhere")
    (tmp_path / "data.csv").write_text("a,b")
    with pytest.raises(DatasetError, match=r"data\.csv is neither a folder, a \.txt list of images, nor an image"):
        list_images(tmp_path / "data.csv")
    with pytest.raises(DatasetError, match="empty list"):
        list_images([])
    assert issubclass(DatasetError, YoloforgeError) and issubclass(DatasetError, ValueError)


def test_symlinked_folders_are_followed_without_looping(tmp_path: Path, coco128_dir: Path) -> None:
    train = _split(coco128_dir, tmp_path / "real", IDS[:1])
    view = tmp_path / "view" / "images"
    view.mkdir(parents=True)
    (view / "linked").symlink_to(train, target_is_directory=True)
    (view / "linked" / "loop").symlink_to(view, target_is_directory=True)
    assert list_images(view) == [str(view / "linked" / f"{IDS[0]}.jpg")]


def test_label_path_for_uses_the_last_images_folder() -> None:
    assert label_path_for("/d/images/train/a.jpg") == "/d/labels/train/a.txt"
    assert label_path_for("/images/x/images/train/a.b.PNG") == "/images/x/labels/train/a.b.txt"
    assert label_path_for("images/a.jpeg") == "labels/a.txt"
    assert label_path_for(Path("/d/imagesX/a.jpg")) == "/d/imagesX/a.txt"  # no `images` folder: beside it
    assert label_path_for("a.jpg") == "a.txt"


def test_non_ascii_and_spaced_paths_pair_with_real_label_files(tmp_path: Path, coco128_dir: Path) -> None:
    root = tmp_path / "données d'été" / "jeu 1"
    train = _split(coco128_dir, root, IDS[:2], ext=".jpeg")
    spaced = train / "chat noir été.jpeg"
    os.rename(train / f"{IDS[1]}.jpeg", spaced)
    os.rename(root / "labels/train" / f"{IDS[1]}.txt", root / "labels/train/chat noir été.txt")
    images = list_images(root / "images")
    assert images == sorted([str(train / f"{IDS[0]}.jpeg"), str(spaced)])
    labels = label_paths_for(images)
    assert all(os.path.isfile(p) for p in labels)
    assert label_path_for(spaced) == str(root / "labels" / "train" / "chat noir été.txt")
