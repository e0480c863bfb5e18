"""VOC 2012 + SBD converter on a miniature raw tree in the real layouts: VOC JPEGs, palette PNGs (SegmentationClass,
SegmentationObject) and image sets; SBD JPEGs and MATLAB v5 cls/inst files holding the GTcls/GTinst structs.

Proven: test is exactly VOC 2012 val, with VOC's annotations; an SBD image that is also in VOC val (on either SBD
list) never reaches train or val; SBD train + val + VOC train form the training pool, every 10th held out as val;
an image in both takes VOC's image and annotation; palette indices (not colours) become seg and inst, void (255)
pixels become seg 255 and inst 0; SBD instance and class maps come through value for value; a corrupt JPEG or .mat
yields (key, error) and the rest still come; keys are unique across splits; every sample encodes with the schema;
a missing SBD tree is one clear error; and the two archives as published (VOCtrainval tar with VOCdevkit/ on top,
SBD's benchmark.tgz a plain tar with benchmark_RELEASE/ on top), served over HTTP under the registry's names, are
fetched, unpacked into the registry's dirs and converted.
"""
from __future__ import annotations

import io
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from PIL import Image

from components.config import DownloadConfig, StorageConfig
from components.data import registry
from components.data.native.voc_sbd import SOURCE
from components.data.schema import encode_sample
from components.errors import PixelpredError
from tests.services import FileServer

H, W = 16, 32
VOC = "VOCtrainval_11-May-2012/VOCdevkit/VOC2012"
SBD = "benchmark/benchmark_RELEASE/dataset"
VOC_SETS = {"train": ["2007_000032", "2007_000039", "2007_000063"],
            "val": ["2007_000033", "2007_000042", "2007_000061"]}
SBD_SETS = {"train": ["2007_000032", "2007_000033", *(f"2008_{i:06d}" for i in range(2, 9))],
            "val": ["2008_000009", "2008_000010", "2007_000042"]}
VOC_COLOUR, SBD_COLOUR = (200, 30, 60), (30, 200, 60)  # tells which dataset's JPEG a sample was read from
CORRUPT_JPEG, CORRUPT_MAT = "2007_000061", "2008_000005"


def voc_palette() -> list[int]:
    """The VOC colour map: bits of the index spread over the high bits of R, G, B."""
    palette = []
    for index in range(256):
        r = g = b = 0
        for bit in range(8):
            r |= ((index >> (3 * bit)) & 1) << (7 - bit)
            g |= ((index >> (3 * bit + 1)) & 1) << (7 - bit)
            b |= ((index >> (3 * bit + 2)) & 1) << (7 - bit)
        palette += [r, g, b]
    return palette


def voc_maps() -> tuple[np.ndarray, np.ndarray]:
    """SegmentationClass and SegmentationObject indices: a person (15) and a dog (12), void (255) borders."""
    classes, objects = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    classes[4:12, 2:10], objects[4:12, 2:10] = 15, 1
    classes[4:12, 14:22], objects[4:12, 14:22] = 12, 2
    classes[3, 2:22], objects[3, 2:22] = 255, 255
    return classes, objects


def sbd_maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GTcls and GTinst Segmentation plus GTinst Categories: two cars (7) and a bird (3)."""
    classes, instances = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    classes[2:8, 2:12], instances[2:8, 2:12] = 7, 1
    classes[2:8, 16:26], instances[2:8, 16:26] = 7, 2
    classes[10:14, 4:10], instances[10:14, 4:10] = 3, 3
    return classes, instances, np.array([[7], [7], [3]], np.uint8)


def write_palette_png(path: Path, indices: np.ndarray) -> None:
    image = Image.frombytes("P", (indices.shape[1], indices.shape[0]), indices.tobytes())
    image.putpalette(voc_palette())
    image.save(path)


def write_jpeg(path: Path, colour: tuple[int, int, int]) -> None:
    Image.new("RGB", (W, H), colour).save(path, quality=95)


def write_sbd_mats(dataset: Path, image_id: str, classes: np.ndarray, instances: np.ndarray,
                   categories: np.ndarray) -> None:
    """cls/<id>.mat and inst/<id>.mat as SBD ships them: 1 x 1 structs with cells of sparse boundary maps."""
    def boundaries(count: int) -> np.ndarray:
        cells = np.empty((count, 1), dtype=object)
        for i in range(count):
            cells[i, 0] = scipy.sparse.csc_matrix((H, W), dtype=bool)
        return cells

    present = np.unique(classes[classes > 0]).reshape(-1, 1)
    scipy.io.savemat(dataset / "cls" / f"{image_id}.mat", {"GTcls": {
        "Boundaries": boundaries(20), "Segmentation": classes, "CategoriesPresent": present}})
    scipy.io.savemat(dataset / "inst" / f"{image_id}.mat", {"GTinst": {
        "Segmentation": instances, "Boundaries": boundaries(len(categories)), "Categories": categories}})


def build_raw(raw: Path) -> None:
    voc, sbd = raw / VOC, raw / SBD
    for folder in (voc / "JPEGImages", voc / "SegmentationClass", voc / "SegmentationObject",
                   voc / "ImageSets/Segmentation", sbd / "img", sbd / "cls", sbd / "inst"):
        folder.mkdir(parents=True)
    voc_classes, voc_objects = voc_maps()
    for name, ids in VOC_SETS.items():
        (voc / f"ImageSets/Segmentation/{name}.txt").write_text("".join(f"{i}\n" for i in ids))
        for image_id in ids:
            write_jpeg(voc / "JPEGImages" / f"{image_id}.jpg", VOC_COLOUR)
            write_palette_png(voc / "SegmentationClass" / f"{image_id}.png", voc_classes)
            write_palette_png(voc / "SegmentationObject" / f"{image_id}.png", voc_objects)
    sbd_classes, sbd_instances, categories = sbd_maps()
    for name, ids in SBD_SETS.items():
        (sbd / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
        for image_id in ids:
            write_jpeg(sbd / "img" / f"{image_id}.jpg", SBD_COLOUR)
            write_sbd_mats(sbd, image_id, sbd_classes, sbd_instances, categories)
    (voc / "JPEGImages" / f"{CORRUPT_JPEG}.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (sbd / "cls" / f"{CORRUPT_MAT}.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    build_raw(tmp_path / "raw")
    return tmp_path / "raw"


@pytest.fixture
def results(raw: Path) -> dict[str, list[tuple[str, dict | Exception]]]:
    return {split: list(SOURCE.samples(raw, split)) for split in ("train", "val", "test")}


def by_key(items: list[tuple[str, dict | Exception]]) -> dict[str, dict | Exception]:
    return dict(items)


def test_fixture_files_match_the_real_formats(raw):
    with Image.open(raw / VOC / "SegmentationClass/2007_000032.png") as image:
        assert image.mode == "P" and image.getpalette()[15 * 3:16 * 3] == [192, 128, 128]  # VOC's person colour
    gt = scipy.io.loadmat(raw / SBD / "inst/2008_000002.mat", squeeze_me=True, struct_as_record=False)["GTinst"]
    assert list(gt.Categories) == [7, 7, 3] and gt.Segmentation.shape == (H, W)


def test_splits(results):
    keys = {split: [key for key, _ in items] for split, items in results.items()}
    assert keys["test"] == [f"voc_sbd/{i}" for i in VOC_SETS["val"]]
    # Pool: 3 VOC train + 10 SBD (train + val lists) - 2 in VOC val, one shared with VOC train = 12; 10th held out.
    assert keys["val"] == ["voc_sbd/2008_000008"]
    assert len(keys["train"]) == 11 and keys["train"] == sorted(keys["train"])
    for voc_val_id in ("2007_000033", "2007_000042"):  # on SBD's train and val lists respectively
        assert f"voc_sbd/{voc_val_id}" not in keys["train"] + keys["val"]
    all_keys = [key for split_keys in keys.values() for key in split_keys]
    assert len(all_keys) == len(set(all_keys))


def test_voc_annotation_values(results):
    sample = by_key(results["test"])["voc_sbd/2007_000033"]
    seg, inst = sample["seg"], sample["inst"]
    assert seg.dtype == np.uint8 and inst.dtype == np.uint16
    assert seg[0, 0] == 0 and seg[5, 3] == 15 and seg[5, 15] == 12 and seg[3, 3] == 255
    assert inst[0, 0] == 0 and inst[5, 3] == 1 and inst[5, 15] == 2 and inst[3, 3] == 0
    assert sorted(np.unique(inst[inst > 0])) == [1, 2]
    assert np.abs(sample["rgb"].astype(int) - VOC_COLOUR).max() <= 4
    assert sample["meta"]["annotation"] == "voc" and sample["meta"]["split"] == "test"
    assert sample["meta"]["source"] == [f"{VOC}/JPEGImages/2007_000033.jpg", f"{VOC}/SegmentationClass/2007_000033.png",
                                        f"{VOC}/SegmentationObject/2007_000033.png"]


def test_sbd_annotation_values_and_voc_preferred(results):
    train = by_key(results["train"])
    sample = train["voc_sbd/2008_000002"]
    classes, instances, _ = sbd_maps()
    np.testing.assert_array_equal(sample["seg"], classes)
    np.testing.assert_array_equal(sample["inst"], instances.astype(np.uint16))
    assert sorted(np.unique(sample["inst"][sample["inst"] > 0])) == [1, 2, 3]
    assert np.abs(sample["rgb"].astype(int) - SBD_COLOUR).max() <= 4 and sample["meta"]["annotation"] == "sbd"
    both = train["voc_sbd/2007_000032"]  # in SBD train and VOC train: VOC's image and annotation
    np.testing.assert_array_equal(both["seg"], voc_maps()[0])
    np.testing.assert_array_equal(both["inst"], np.where(voc_maps()[1] == 255, 0, voc_maps()[1]))
    assert both["meta"]["annotation"] == "voc" and np.abs(both["rgb"].astype(int) - VOC_COLOUR).max() <= 4


def test_corrupt_files_and_schema(results):
    errors = {split: [key for key, sample in items if isinstance(sample, Exception)]
              for split, items in results.items()}
    assert errors == {"train": [f"voc_sbd/{CORRUPT_MAT}"], "val": [], "test": [f"voc_sbd/{CORRUPT_JPEG}"]}
    for split, items in results.items():
        for key, sample in items:
            if isinstance(sample, Exception):
                continue
            assert set(sample) == {"rgb", "seg", "inst", "meta"} and sample["meta"]["split"] == split
            assert set(encode_sample(key, sample)) == {"__key__", "rgb.png", "seg.png", "inst.png", "json"}


def test_missing_sbd_tree(raw):
    shutil.rmtree(raw / "benchmark")
    with pytest.raises(PixelpredError, match="benchmark/benchmark_RELEASE/dataset/train.txt is missing"):
        next(SOURCE.samples(raw, "train"))


def plain_tar(folder: Path) -> bytes:
    """Every file and folder under `folder`, named relative to it, in an uncompressed tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(folder.iterdir()):
            archive.add(path, path.name)
    return buffer.getvalue()


def test_published_archives_through_fetch(raw, tmp_path):
    entry = registry.entry("voc_sbd")
    archives = {file.name: plain_tar(raw / file.unpack) for file in entry.files}
    assert archives["benchmark.tgz"][257:262] == b"ustar"      # a tar header, no gzip magic: as SBD ships it
    with FileServer(archives) as server:
        # The miniature archives are not the published ones: their size and checksum are dropped.
        files = tuple(replace(f, urls=(server.url(f.name),), size=0, sha256="", checksum_source="")
                      for f in entry.files)
        registry.fetch(replace(entry, files=files), tmp_path / "raw", tmp_path / "lock.json",
                       DownloadConfig(attempts=2, backoff_s=0.0, timeout_s=5.0), StorageConfig())
    test = dict(SOURCE.samples(tmp_path / "raw", "test"))
    assert test["voc_sbd/2007_000033"]["seg"][5, 3] == 15 and test["voc_sbd/2007_000033"]["inst"][5, 15] == 2
    sbd_only = dict(SOURCE.samples(tmp_path / "raw", "train"))["voc_sbd/2008_000002"]
    assert sbd_only["meta"]["annotation"] == "sbd" and sbd_only["inst"].max() == 3
