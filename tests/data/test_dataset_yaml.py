"""Dataset YAMLs resolved against real folders: the packaged ones, coco128, tmp copies, downloads."""

from __future__ import annotations

import dataclasses
import io
import os
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.data.test_download import make_zip, serve
from yoloforge.data.dataset_yaml import (
    PACKAGED_DIR,
    DatasetError,
    DatasetInfo,
    describe,
    find_dataset_yaml,
    load_dataset_yaml,
)
from yoloforge.data.download import parse_download_spec
from yoloforge.data.files import label_path_for, list_images

COCO8_TRAIN = ["000000000009", "000000000025", "000000000030", "000000000034"]
COCO8_VAL = ["000000000036", "000000000042", "000000000049", "000000000061"]


@pytest.fixture(autouse=True)
def ds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty datasets folder of this test's own (and no proxy for 127.0.0.1)."""
    folder = tmp_path / "datasets"
    monkeypatch.setenv("YOLOFORGE_DATASETS_DIR", str(folder))
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    return folder


def _write(path: Path, data: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


# --- packaged datasets -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["coco8.yaml", "coco8", PACKAGED_DIR / "coco8.yaml"])
def test_packaged_coco8_works_offline(name: str | Path, ds: Path) -> None:
    info = load_dataset_yaml(name)
    assert info.yaml_file == str(PACKAGED_DIR / "coco8.yaml")
    assert info.path == str(PACKAGED_DIR / "coco8")
    assert info.train == [str(PACKAGED_DIR / "coco8" / "images" / "train")]
    assert info.val == [str(PACKAGED_DIR / "coco8" / "images" / "val")]
    assert info.test == [] and info.download is None
    assert info.nc == 80 and info.names[0] == "person" and info.names[79] == "toothbrush"
    assert [Path(p).stem for p in list_images(info.train)] == COCO8_TRAIN
    assert [Path(p).stem for p in list_images(info.val)] == COCO8_VAL
    assert all(os.path.getsize(label_path_for(p)) > 0 for p in list_images(info.train + info.val))
    assert not ds.exists()  # nothing downloaded, nothing created


def test_packaged_coco8_matches_coco128_bytes(coco128_dir: Path) -> None:
    for split, ids in (("train", COCO8_TRAIN), ("val", COCO8_VAL)):
        for i in ids:
            for kind, ext in (("images", ".jpg"), ("labels", ".txt")):
                ours = PACKAGED_DIR / "coco8" / kind / split / f"{i}{ext}"
                assert ours.read_bytes() == (coco128_dir / kind / "train2017" / f"{i}{ext}").read_bytes()
    assert "CC BY 4.0" in (PACKAGED_DIR / "coco8" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "nc", "first", "folders"),
    [
        ("coco128.yaml", 80, "person", ["coco128/images/train2017"]),
        ("coco.yaml", 80, "person", ["coco/images/train2017", "coco/images/val2017"]),
        (
            "VOC.yaml",
            20,
            "aeroplane",
            [f"VOC/images/{s}" for s in ("train2012", "val2012", "train2007", "val2007", "test2007")],
        ),
    ],
)
def test_packaged_yamls_resolve_in_the_datasets_folder(
    ds: Path, name: str, nc: int, first: str, folders: list[str]
) -> None:
    with pytest.raises(DatasetError, match=r"not downloaded yet: load it with download=True"):
        load_dataset_yaml(name, download=False)
    for folder in folders:  # as if downloaded: the folders the YAML names, in the datasets folder
        (ds / folder).mkdir(parents=True)
    info = load_dataset_yaml(name, download=False)
    assert info.nc == nc == len(set(info.names.values())) and info.names[0] == first
    assert set(info.train + info.val + info.test) == {str(ds / f) for f in folders}
    assert all(i.url.startswith("http") for i in parse_download_spec(info.download))


def test_packaged_coco128_yaml_reads_the_real_coco128(ds: Path, coco128_dir: Path) -> None:
    ds.mkdir()
    (ds / "coco128").symlink_to(coco128_dir, target_is_directory=True)
    info = load_dataset_yaml("coco128.yaml")
    assert info.train == info.val == [str(ds / "coco128" / "images" / "train2017")]
    assert len(list_images(info.train)) == 128
    text = describe(info)
    assert "train    128 images, 126 label files, 2 without a label file" in text
    assert str(ds / "coco128" / "images" / "train2017") in text


# --- resolving path and splits -----------------------------------------------------------------


def test_relative_path_resolves_against_the_yaml_folder(coco128_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spaced = coco128_copy.parent / "jeu de données été"
    coco128_copy.rename(spaced)
    yml = _write(
        spaced / "cfg" / "données.yaml",
        {"path": "..", "train": "images/train2017", "val": "images/val2017", "names": ["a", "b"]},
    )
    monkeypatch.chdir(PACKAGED_DIR)  # the working directory must not matter
    info = load_dataset_yaml(yml)
    assert info.path == str(spaced) and info.yaml_file == str(yml)
    assert info.train == [str(spaced / "images" / "train2017")]
    assert len(list_images(info.val)) == 128
    assert info.names == {0: "a", 1: "b"} and info.nc == 2


def test_relative_path_falls_back_to_the_datasets_folder(tmp_path: Path, ds: Path) -> None:
    (ds / "mine" / "images" / "tr").mkdir(parents=True)
    yml = _write(
        tmp_path / "cfg" / "mine.yaml", {"path": "mine", "train": "images/tr", "val": "images/tr", "names": {0: "x"}}
    )
    assert load_dataset_yaml(yml).path == str(ds / "mine")
    (tmp_path / "cfg" / "mine" / "images" / "tr").mkdir(parents=True)  # beside the YAML wins
    assert load_dataset_yaml(yml).path == str(tmp_path / "cfg" / "mine")


def test_relative_path_falls_back_to_the_working_directory_with_a_warning(
    tmp_path: Path, ds: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Ultralytics users write `path:` relative to where they run: found there last, and said so."""
    (tmp_path / "work" / "data" / "mine" / "images" / "tr").mkdir(parents=True)
    yml = _write(tmp_path / "cfg" / "mine.yaml", {"path": "data/mine", "train": "images/tr", "val": "images/tr",
                                                  "names": ["x"]})  # fmt: skip
    monkeypatch.chdir(tmp_path / "work")
    assert load_dataset_yaml(yml).path == str(tmp_path / "work" / "data" / "mine")
    (warned,) = {r.getMessage() for r in caplog.records if "working directory" in r.getMessage()}
    assert warned.startswith(f"{yml}: 'path: data/mine' found in the working directory ({tmp_path / 'work'}/")
    assert "not beside the YAML or in the datasets folder; this works only from this folder" in warned


def test_a_relative_path_found_nowhere_names_every_place_looked_at(
    tmp_path: Path, ds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yml = _write(tmp_path / "cfg" / "m.yaml", {"path": "mine", "train": "images/tr", "val": "images/tr",
                                               "names": ["x"]})  # fmt: skip
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(DatasetError) as e:
        load_dataset_yaml(yml)
    assert str(e.value) == (
        f"{yml}: 'path: mine' was not found in any of the 3 places a relative path is looked for (beside the "
        f"YAML: {tmp_path / 'cfg' / 'mine'}; in the datasets folder: {ds / 'mine'}; in the working directory: "
        f"{tmp_path / 'work' / 'mine'}); make it absolute, or relative to the YAML's folder"
    )


def test_absolute_and_absent_path(tmp_path: Path, coco128_dir: Path) -> None:
    yml = _write(
        tmp_path / "abs.yaml",
        {"path": str(coco128_dir), "train": "images/train2017", "val": "images/val2017", "names": ["a"]},
    )
    assert load_dataset_yaml(yml).path == str(coco128_dir)
    (tmp_path / "images" / "v").mkdir(parents=True)
    yml = _write(tmp_path / "nopath.yaml", {"train": "images/v", "val": "images/v", "test": None, "names": ["a"]})
    info = load_dataset_yaml(yml)
    assert info.path == str(tmp_path) and info.test == []


def test_split_lists_and_txt_files(coco128_copy: Path) -> None:
    lines = [f"./images/train2017/{p.name}" for p in sorted((coco128_copy / "images" / "train2017").iterdir())[:5]]
    (coco128_copy / "five.txt").write_text("\n".join(lines) + "\n")
    yml = _write(
        coco128_copy / "data.yaml",
        {
            "path": ".",
            "train": ["images/train2017", "images/val2017"],
            "val": "five.txt",
            "test": ["five.txt"],
            "names": ["a"],
        },
    )
    info = load_dataset_yaml(yml)
    assert info.train == [str(coco128_copy / "images" / s) for s in ("train2017", "val2017")]
    assert info.val == info.test == [str(coco128_copy / "five.txt")]
    assert len(list_images(info.train)) == 256 and len(list_images(info.val)) == 5
    assert "val      5 images, 5 label files" in describe(info)


def test_dataset_info_is_frozen() -> None:
    info = load_dataset_yaml("coco8.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.nc = 3  # type: ignore[misc]
    assert isinstance(info, DatasetInfo)


# --- clear errors ------------------------------------------------------------------------------

BASE = {"path": ".", "train": "images", "val": "images", "names": ["a", "b"]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train": None}, "missing key 'train' \\(a folder"),
        ({"val": []}, "missing key 'val'"),
        ({"names": None}, "missing key 'names'"),
        ({"names": "a b"}, "'names' must be a list or a mapping"),
        ({"names": {0: "a", 2: "c"}}, r"'names' must give ids 0\.\.1 without gaps; missing \[1\]"),
        ({"names": {"x": "a"}}, "'names' key 'x' is not a class id"),
        ({"names": ["a", False]}, "entry for class 1 is False; quote it"),
        ({"nc": 3}, "'nc' is 3 but 'names' has 2 classes"),
        ({"train": {"a": 1}}, "'train' must be a folder, a list of folders or a .txt"),
        ({"path": 5}, "'path' must be a folder name"),
        ({"download": "ftp://x/y.zip"}, r"download: 'url' must be an http\(s\) URL"),
        ({"convert": "labelme"}, "unknown 'convert' value 'labelme'"),
    ],
)
def test_bad_keys_name_the_file_and_key(tmp_path: Path, changes: dict, message: str) -> None:
    (tmp_path / "images").mkdir()
    yml = _write(tmp_path / "bad.yaml", {**BASE, **changes})
    with pytest.raises(DatasetError, match=message) as err:
        load_dataset_yaml(yml)
    assert str(yml) in str(err.value)


def test_names_as_string_keys_and_nc_that_agrees(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    yml = _write(tmp_path / "ok.yaml", "path: .\ntrain: images\nval: images\nnc: 2\nnames: {'1': 'no', '0': 1}\n")
    assert load_dataset_yaml(yml).names == {0: "1", 1: "no"}


def test_missing_folder_names_the_yaml_key_and_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "d" / "images" / "train").mkdir(parents=True)
    yml = _write(
        tmp_path / "d" / "data.yaml", {"path": ".", "train": "images/train", "val": "images/vall", "names": ["a"]}
    )
    with pytest.raises(DatasetError) as err:
        load_dataset_yaml(yml)
    msg = str(err.value)
    assert msg.startswith(f"{yml}: 'val' source {tmp_path / 'd' / 'images' / 'vall'} does not exist")
    assert "check 'path'" in msg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: [a\n", "is not valid YAML"),
        ("- a\n- b\n", "must be a YAML mapping with keys path, train, val and names; it holds a list"),
        ("", "it holds a NoneType"),
    ],
)
def test_not_a_dataset_yaml(tmp_path: Path, text: str, message: str) -> None:
    yml = _write(tmp_path / "x.yaml", text)
    with pytest.raises(DatasetError, match=message):
        load_dataset_yaml(yml)


def test_binary_file_and_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_bytes(b"\x80\x02\xff\xfe")
    with pytest.raises(DatasetError, match="is not UTF-8 text"):
        load_dataset_yaml(tmp_path / "model.yaml")
    with pytest.raises(
        DatasetError,
        match=r"'nope\.yaml' not found: no file at .*packaged: VOC\.yaml, coco\.yaml, coco128\.yaml, coco8\.yaml",
    ):
        find_dataset_yaml("nope.yaml")
    with pytest.raises(DatasetError, match="is a folder: pass the dataset's YAML file"):
        find_dataset_yaml(tmp_path)


# --- downloading a missing dataset -------------------------------------------------------------


def test_missing_dataset_is_downloaded_once(tmp_path: Path, ds: Path, coco128_dir: Path) -> None:
    files = {
        f"mini/{kind}/train2017/{i}{ext}": (coco128_dir / kind / "train2017" / f"{i}{ext}").read_bytes()
        for i in COCO8_TRAIN[:2]
        for kind, ext in (("images", ".jpg"), ("labels", ".txt"))
    }
    with serve({"mini.zip": make_zip(files)}) as server:
        yml = _write(
            tmp_path / "cfg" / "mini.yaml",
            {
                "path": "mini",
                "train": "images/train2017",
                "val": "images/train2017",
                "names": ["a"],
                "download": server.url("mini.zip"),
            },
        )
        with pytest.raises(DatasetError, match="not downloaded yet"):
            load_dataset_yaml(yml, download=False)
        assert server.requests == []
        info = load_dataset_yaml(yml)
        again = load_dataset_yaml(yml)
    assert server.hits("mini.zip") == [None]
    assert info == again and info.path == str(ds / "mini") and info.download == server.url("mini.zip")
    assert "train    2 images, 2 label files" in describe(info)
    assert sorted(p.name for p in ds.iterdir()) == ["mini"]  # the archive is gone once unpacked


def test_download_with_the_wrong_layout_says_so(tmp_path: Path) -> None:
    with serve({"other.zip": make_zip({"other/images/a.jpg": b"\xff\xd8"})}) as server:
        yml = _write(
            tmp_path / "m.yaml",
            {"path": "mini", "train": "images", "val": "images", "names": ["a"], "download": server.url("other.zip")},
        )
        with pytest.raises(DatasetError, match="the download finished but did not create it: check that 'path'"):
            load_dataset_yaml(yml)


def _voc_xml(stem: str, objects: list[tuple[str, int, tuple[int, int, int, int]]]) -> bytes:
    objs = "".join(
        f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for n, d, b in objects
    )
    size = "<size><width>200</width><height>100</height><depth>3</depth></size>"
    return f"<annotation><filename>{stem}.jpg</filename>{size}{objs}</annotation>".encode()


def _voc_tar(coco128_dir: Path) -> bytes:
    jpg = (coco128_dir / "images" / "train2017" / "000000000009.jpg").read_bytes()
    files = {
        "VOCdevkit/VOC2007/ImageSets/Main/train.txt": b"000001\n",
        "VOCdevkit/VOC2007/ImageSets/Main/test.txt": b"000002\n",
        "VOCdevkit/VOC2007/Annotations/000001.xml": _voc_xml(
            "000001", [("dog", 0, (21, 11, 101, 61)), ("cat", 1, (1, 1, 5, 5))]
        ),
        "VOCdevkit/VOC2007/Annotations/000002.xml": _voc_xml("000002", [("cat", 0, (1, 1, 201, 101))]),
        "VOCdevkit/VOC2007/JPEGImages/000001.jpg": jpg,
        "VOCdevkit/VOC2007/JPEGImages/000002.jpg": jpg,
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_voc_download_is_converted_before_it_moves_into_place(tmp_path: Path, ds: Path, coco128_dir: Path) -> None:
    with serve({"VOCtrainval.tar": _voc_tar(coco128_dir)}) as server:
        yml = _write(
            tmp_path / "voc.yaml",
            {
                "path": "VOC",
                "train": "images/train2007",
                "val": "images/test2007",
                "names": ["cat", "dog"],
                "download": [{"url": server.url("VOCtrainval.tar"), "dir": "VOC"}],
                "convert": "voc",
            },
        )
        info = load_dataset_yaml(yml)
    root = ds / "VOC"
    assert sorted(p.name for p in root.iterdir()) == ["images", "labels"]  # VOCdevkit removed
    assert (root / "labels" / "train2007" / "000001.txt").read_text() == "1 0.300000 0.350000 0.400000 0.500000\n"
    assert (root / "labels" / "test2007" / "000002.txt").read_text() == "0 0.500000 0.500000 1.000000 1.000000\n"
    assert [Path(p).name for p in list_images(info.train)] == ["000001.jpg"]
    assert sorted(p.name for p in ds.iterdir()) == ["VOC"]


def test_voc_conversion_failure_leaves_no_half_dataset(tmp_path: Path, ds: Path, coco128_dir: Path) -> None:
    with serve({"v.tar": _voc_tar(coco128_dir)}) as server:
        yml = _write(
            tmp_path / "voc.yaml",
            {
                "path": "VOC",
                "train": "images/train2007",
                "val": "images/test2007",
                "names": ["cat"],
                "download": [{"url": server.url("v.tar"), "dir": "VOC"}],
                "convert": "voc",
            },
        )
        with pytest.raises(DatasetError, match=r"000001\.xml: class 'dog' is not in the YAML's names"):
            load_dataset_yaml(yml)
    assert not (ds / "VOC").exists()
