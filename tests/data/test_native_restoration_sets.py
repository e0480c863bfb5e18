"""Restoration sets' converters on miniature archives in the real layouts, unpacked by the download stage's extractor
into the registry entries' unpack directories: DIV2K's two HR zips, the Set5 / Set14 / Urban100 HR tarballs of the
Hugging Face mirrors, LIVE IQA release 2 (databaserelease2.zip) and Köhler et al.'s BlurryImages.zip +
GroundTruth_pngs_Image<i>.zip.

Proven: every registry entry names its converter; DIV2K's official train images give train and val (every 10th)
and its valid images our test, pixel for pixel; each image set reads exactly its glob (LIVE1: refimgs only, not the
distorted images), grey images become RGB with the mode recorded, and has no train or val samples; Köhler's lq is
the blurry photo and gt the middle sharp frame in numeric frame order (frame 6 of 1..11, not the lexicographic
middle), with the frame recorded; a corrupt file yields (key, error) and the rest still come; a missing tree is one
clear PixelpredError; every sample encodes with the schema.
"""
from __future__ import annotations

import importlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.data import registry
from components.data.dataset import DatasetInfo
from components.data.shards import load_split
from components.data.schema import encode_sample
from components.data.sources import get_source
from components.errors import PixelpredError
from components.storage import archive
from pipelines.cli import main
from tests.conftest import TINY_PARAMS, write_params

TRUNCATED_PNG = b"\x89PNG\r\n\x1a\n truncated"


def image_bytes(array: np.ndarray, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, image_format)
    return buffer.getvalue()


def marked(value: int, height: int = 12, width: int = 16) -> np.ndarray:
    """A random RGB image whose pixel (1, 2) is (value % 256, 255 - value % 256, 7): identifies it after conversion."""
    image = np.random.default_rng(value).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image[1, 2] = (value % 256, 255 - value % 256, 7)
    return image


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive_file:
        for name, data in sorted(members.items()):
            archive_file.writestr(name, data)
    return buffer.getvalue()


def tarred(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def unpack(tmp_path: Path, dataset: str, archives: dict[str, bytes]) -> Path:
    """Archive name -> bytes, unpacked as the download stage does: into <raw>/<the registry's unpack dir>/."""
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    unpack_dirs = {file.name: file.unpack for file in registry.entry(dataset).files}
    for name, data in archives.items():
        (tmp_path / name).write_bytes(data)
        archive.extract(tmp_path / name, raw / unpack_dirs[name], max_total_bytes=2 ** 30)
    return raw


def readable(items: list) -> dict[str, dict]:
    return {key: sample for key, sample in items if not isinstance(sample, Exception)}


@pytest.mark.parametrize("dataset", ["div2k", "live1", "set5", "set14", "urban100", "kohler"])
def test_registry_entries_name_their_converters(dataset):
    entry = registry.entry(dataset)
    assert entry.converter == dataset
    assert get_source(dataset) is importlib.import_module(f"components.data.native.{dataset}").SOURCE


@pytest.fixture
def div2k_raw(tmp_path) -> Path:
    train = {f"DIV2K_train_HR/{n:04d}.png": image_bytes(marked(n)) for n in range(1, 13)}
    train["DIV2K_train_HR/0005.png"] = TRUNCATED_PNG
    valid = {f"DIV2K_valid_HR/{n:04d}.png": image_bytes(marked(n)) for n in (801, 802)}
    return unpack(tmp_path, "div2k", {"DIV2K_train_HR.zip": zipped(train), "DIV2K_valid_HR.zip": zipped(valid)})


def test_div2k_splits_values_and_corrupt_image(div2k_raw):
    source = get_source("div2k")
    results = {split: list(source.samples(div2k_raw, split)) for split in ("train", "val", "test")}
    keys = {split: [key for key, _ in items] for split, items in results.items()}
    assert keys["val"] == ["div2k/0010"] and keys["test"] == ["div2k/0801", "div2k/0802"]
    assert keys["train"] == [f"div2k/{n:04d}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12)]
    assert [key for key, sample in results["train"] if isinstance(sample, Exception)] == ["div2k/0005"]
    test = readable(results["test"])
    np.testing.assert_array_equal(test["div2k/0802"]["rgb"], marked(802))
    assert tuple(test["div2k/0801"]["rgb"][1, 2]) == (33, 222, 7)          # 801 % 256 = 33
    assert test["div2k/0801"]["meta"] == {"dataset": "div2k", "split": "test", "mode": "RGB",
                                          "source": "DIV2K_valid_HR/DIV2K_valid_HR/0801.png"}
    for split, items in results.items():
        for key, sample in readable(items).items():
            assert set(encode_sample(key, sample)) == {"__key__", "rgb.png", "json"}


def test_div2k_missing_tree(tmp_path):
    with pytest.raises(PixelpredError, match="DIV2K_train_HR.zip unpacked"):
        list(get_source("div2k").samples(tmp_path, "train"))


# (dataset, archive, member folder, file names, image format): the real archives' member layouts.
IMAGE_SETS = [
    ("set5", "Set5_HR.tar.gz", "Set5_HR", ["baby", "bird", "butterfly", "head", "woman"], "PNG"),
    ("set14", "Set14_HR.tar.gz", "Set14_HR", ["baboon", "face", "zebra"], "PNG"),
    ("urban100", "Urban100_HR.tar.gz", "Urban100_HR", ["img_001", "img_002", "img_100"], "PNG"),
    ("live1", "databaserelease2.zip", "databaserelease2/refimgs", ["bikes", "caps", "womanhat"], "BMP"),
]


def image_set_raw(tmp_path: Path, dataset: str, archive_name: str, folder: str, names: list[str],
                  image_format: str) -> Path:
    members = {f"{folder}/{name}.{image_format.lower()}": image_bytes(marked(i + 1), image_format)
               for i, name in enumerate(names)}
    members[f"{folder}/grey.{image_format.lower()}"] = image_bytes(np.full((10, 14), 77, np.uint8), image_format)
    members[f"{folder}/broken.{image_format.lower()}"] = TRUNCATED_PNG
    if dataset == "live1":       # the distorted images and score files beside refimgs/ are not LIVE1
        members["databaserelease2/jpeg/img1.bmp"] = image_bytes(marked(99), "BMP")
        members["databaserelease2/dmos.mat"] = b"MATLAB 5.0 MAT-file"
    pack = zipped if archive_name.endswith(".zip") else tarred
    return unpack(tmp_path, dataset, {archive_name: pack(members)})


@pytest.mark.parametrize("dataset, archive_name, folder, names, image_format", IMAGE_SETS,
                         ids=[image_set[0] for image_set in IMAGE_SETS])
def test_image_sets(tmp_path, dataset, archive_name, folder, names, image_format):
    raw = image_set_raw(tmp_path, dataset, archive_name, folder, names, image_format)
    source = get_source(dataset)
    assert list(source.samples(raw, "train")) == [] and list(source.samples(raw, "val")) == []
    items = list(source.samples(raw, "test"))
    assert [key for key, _ in items] == sorted(f"{dataset}/{name}" for name in [*names, "grey", "broken"])
    assert [key for key, sample in items if isinstance(sample, Exception)] == [f"{dataset}/broken"]
    samples = readable(items)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(samples[f"{dataset}/{name}"]["rgb"], marked(i + 1))
    grey = samples[f"{dataset}/grey"]
    assert grey["rgb"].shape == (10, 14, 3) and (grey["rgb"] == 77).all() and grey["meta"]["mode"] == "L"
    first = samples[f"{dataset}/{names[0]}"]["meta"]
    assert first["dataset"] == dataset and first["split"] == "test"
    assert first["source"] == f"{archive_name.split('.')[0]}/{folder}/{names[0]}.{image_format.lower()}"
    for key, sample in samples.items():
        assert set(encode_sample(key, sample)) == {"__key__", "rgb.png", "json"}


def test_prepare_stage_shards_a_test_only_set(tmp_path):
    dataset, archive_name, folder, names, image_format = IMAGE_SETS[0]
    raw = image_set_raw(tmp_path, dataset, archive_name, folder, names, image_format)
    params = write_params(tmp_path, TINY_PARAMS)
    assert main(["--params", str(params), "prepare", "--dataset", "set5", "--raw", str(raw),
                 "--out", str(tmp_path / "set5")]) == 0
    info = DatasetInfo.read(tmp_path / "set5")
    assert info.source == "set5" and info.split_sizes == {"test": len(names) + 1} and info.skipped == {"test": 1}
    shards = {sample["__key__"]: sample for sample in load_split(tmp_path / "set5", "test")}
    np.testing.assert_array_equal(shards["set5/bird"]["rgb"], marked(2))


@pytest.mark.parametrize("dataset", ["set5", "live1"])
def test_image_set_missing_tree(tmp_path, dataset):
    with pytest.raises(PixelpredError, match="run the download stage"):
        list(get_source(dataset).samples(tmp_path, "test"))


# Köhler miniature: (printout, trajectory) -> number of sharp frames recorded.
FRAMES = {(1, 1): 11, (1, 2): 4, (2, 1): 3, (2, 12): 0}


def kohler_raw(tmp_path: Path) -> Path:
    """Sharp frame f of (i, t) is flat with value 10 * f + t; the blurry photo is marked(10 * i + t)."""
    blurry = {f"Blurry{i}_{t}.png": image_bytes(marked(10 * i + t)) for i, t in FRAMES}
    blurry["Blurry2_1.png"] = TRUNCATED_PNG
    archives = {"BlurryImages.zip": zipped(blurry)}
    for printout in (1, 2):
        archives[f"GroundTruth_pngs_Image{printout}.zip"] = zipped({
            f"Image{i}/Kernel{t}/GroundTruth{i}_{t}_{f}.png": image_bytes(np.full((12, 16, 3), 10 * f + t, np.uint8))
            for (i, t), count in FRAMES.items() if i == printout for f in range(1, count + 1)})
    return unpack(tmp_path, "kohler", archives)


def test_kohler_pairs_the_blurry_photo_with_the_middle_sharp_frame(tmp_path):
    raw, source = kohler_raw(tmp_path), get_source("kohler")
    assert list(source.samples(raw, "train")) == []
    items = list(source.samples(raw, "test"))
    assert [key for key, _ in items] == ["kohler/image1/kernel01", "kohler/image1/kernel02", "kohler/image2/kernel01",
                                         "kohler/image2/kernel12"]
    errors = {key for key, sample in items if isinstance(sample, Exception)}
    assert errors == {"kohler/image2/kernel01", "kohler/image2/kernel12"}   # truncated photo; no sharp frames
    samples = readable(items)
    first, second = samples["kohler/image1/kernel01"], samples["kohler/image1/kernel02"]
    np.testing.assert_array_equal(first["lq"], marked(11))
    assert (first["gt"] == 10 * 6 + 1).all() and first["meta"]["frame"] == 6 and first["meta"]["frames"] == 11
    assert (second["gt"] == 10 * 2 + 2).all() and second["meta"]["frame"] == 2      # (4 + 1) // 2
    assert first["meta"]["source"] == ["BlurryImages/Blurry1_1.png",
                                       "GroundTruth_pngs_Image1/Image1/Kernel1/GroundTruth1_1_6.png"]
    assert first["meta"]["printout"] == 1 and first["meta"]["trajectory"] == 1 and first["meta"]["split"] == "test"
    for key, sample in samples.items():
        assert set(encode_sample(key, sample)) == {"__key__", "gt.png", "lq.png", "json"}


def test_kohler_missing_tree(tmp_path):
    with pytest.raises(PixelpredError, match="BlurryImages.zip unpacked"):
        list(get_source("kohler").samples(tmp_path, "test"))
