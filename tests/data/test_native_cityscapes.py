"""Cityscapes converter on a miniature raw tree in the official zips' layouts (8-bit RGB and labelIds PNGs, 16-bit
instanceIds and disparity PNGs, camera JSONs with the official keys).

Proven: label ids map to the 19 train ids (car 26 -> 13, unlabeled 0 and caravan 29 -> 255); instances are numbered
1..N over train-class objects only (crowd groups and caravans get 0); depth is baseline * fx / ((p - 1) / 256)
metres, 0 where p = 0 or 1; intrinsics come from the camera JSON; official val is our test and every 10th official
training image our val, keys unique and sorted; official test images are not used; a corrupt image yields
(key, error) and the rest still come; without the disparity and camera zips samples carry no depth and one log line
says so; a missing gtFine tree is one clear error; every sample encodes with the schema; and the four official
zips, put into the raw dir by hand under the registry's names (the files are login-gated), are verified, unpacked
into the registry's dirs by the download stage's fetch and converted.
"""
from __future__ import annotations

import io
import json
import logging
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.config import DownloadConfig, StorageConfig
from components.data import registry
from components.data.native.cityscapes import SOURCE
from components.data.schema import encode_sample
from components.errors import PixelpredError

H, W = 16, 32
BASELINE, FX = 0.209313, 2262.52
CAMERA = {"extrinsic": {"baseline": BASELINE, "pitch": 0.038, "roll": 0.0, "x": 1.7, "y": 0.1, "yaw": -0.0195,
                        "z": 1.3},
          "intrinsic": {"fx": FX, "fy": 2265.3017905988554, "u0": 1096.98, "v0": 513.137}}
OFFICIAL = {"train": {"aachen": 6, "bochum": 4}, "val": {"frankfurt": 2}, "test": {"berlin": 1}}
CORRUPT = "aachen_000000_000012"


def label_maps() -> tuple[np.ndarray, np.ndarray]:
    """labelIds and instanceIds of every miniature frame: road, sky, two cars, a person, a car group, a caravan."""
    labels, instances = np.full((H, W), 7, np.uint8), np.full((H, W), 7, np.uint16)
    labels[0:4], instances[0:4] = 23, 23
    labels[4:8, 0:8] = 26
    instances[4:8, 0:4], instances[4:8, 4:8] = 26000, 26001
    labels[8:12, 0:4], instances[8:12, 0:4] = 24, 24000
    labels[8:12, 4:8], instances[8:12, 4:8] = 26, 26  # crowd "car group": label id only, no instance
    labels[12:16, 0:4], instances[12:16, 0:4] = 29, 29000  # caravan: has instances, but no train id
    labels[12:16, 4:8], instances[12:16, 4:8] = 0, 0
    return labels, instances


def disparity_png() -> np.ndarray:
    """16-bit disparity: d = 20 px everywhere except d = 10 at (5, 20), invalid p = 0 at (5, 21), p = 1 at (5, 22)."""
    disparity = np.full((H, W), 256 * 20 + 1, np.uint16)
    disparity[5, 20], disparity[5, 21], disparity[5, 22] = 256 * 10 + 1, 0, 1
    return disparity


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)  # uint16 arrays are saved as 16-bit greyscale PNGs, like the official files


def build_raw(raw: Path) -> None:
    labels, instances = label_maps()
    rng = np.random.default_rng(0)
    for official, cities in OFFICIAL.items():
        for city, count in cities.items():
            for frame in range(10, 10 + count):
                stem = f"{city}_000000_{frame:06d}"
                write_png(raw / f"leftImg8bit_trainvaltest/leftImg8bit/{official}/{city}/{stem}_leftImg8bit.png",
                          rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
                if official == "test":
                    continue
                gt = raw / f"gtFine_trainvaltest/gtFine/{official}/{city}/{stem}_gtFine"
                write_png(gt.with_name(f"{gt.name}_labelIds.png"), labels)
                write_png(gt.with_name(f"{gt.name}_instanceIds.png"), instances)
                write_png(raw / f"disparity_trainvaltest/disparity/{official}/{city}/{stem}_disparity.png",
                          disparity_png())
                camera = raw / f"camera_trainvaltest/camera/{official}/{city}/{stem}_camera.json"
                camera.parent.mkdir(parents=True, exist_ok=True)
                camera.write_text(json.dumps(CAMERA, indent=4))
    (raw / f"leftImg8bit_trainvaltest/leftImg8bit/train/aachen/{CORRUPT}_leftImg8bit.png").write_bytes(
        b"\x89PNG\r\n\x1a\n truncated")


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    build_raw(tmp_path / "raw")
    return tmp_path / "raw"


def test_fixture_pngs_are_16_bit(raw):
    path = raw / "disparity_trainvaltest/disparity/val/frankfurt/frankfurt_000000_000010_disparity.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "I;16"
        assert np.asarray(image)[5, 20] == 2561


def test_values(raw):
    key, sample = next(SOURCE.samples(raw, "test"))
    assert key == "cityscapes/frankfurt_000000_000010"
    seg, inst, depth = sample["seg"], sample["inst"], sample["depth"]
    assert seg.dtype == np.uint8 and inst.dtype == np.uint16 and depth.dtype == np.float32
    assert seg[10, 20] == 0 and seg[0, 0] == 10 and seg[5, 1] == 13 and seg[9, 1] == 11 and seg[9, 5] == 13
    assert seg[13, 1] == 255 and seg[13, 5] == 255
    # Sequential ids in increasing instanceId order: person 24000 -> 1, car 26000 -> 2, car 26001 -> 3.
    assert inst.max() == 3 and len(np.unique(inst[inst > 0])) == 3
    assert inst[9, 1] == 1 and inst[5, 1] == 2 and inst[5, 5] == 3
    assert inst[9, 5] == 0 and inst[13, 1] == 0 and inst[0, 0] == 0 and inst[10, 20] == 0
    assert depth[5, 20] == pytest.approx(BASELINE * FX / 10, rel=1e-6)
    assert depth[5, 20] == pytest.approx(47.357485, rel=1e-6)  # 0.209313 * 2262.52 / 10
    assert depth[0, 0] == pytest.approx(23.678742, rel=1e-6)  # d = 20
    assert depth[5, 21] == 0 and depth[5, 22] == 0
    meta = sample["meta"]
    assert meta["intrinsics"] == {"fx": FX, "fy": 2265.3017905988554, "cx": 1096.98, "cy": 513.137}
    assert meta["split"] == "test" and meta["official_split"] == "val" and meta["city"] == "frankfurt"
    assert "gtFine_trainvaltest/gtFine/val/frankfurt/frankfurt_000000_000010_gtFine_labelIds.png" in meta["source"]
    assert all(not Path(path).is_absolute() and (raw / path).is_file() for path in meta["source"])


def test_splits_corrupt_image_and_schema(raw):
    results = {split: list(SOURCE.samples(raw, split)) for split in ("train", "val", "test")}
    keys = {split: [key for key, _ in items] for split, items in results.items()}
    # 10 official training frames, sorted: every 10th (the last) is our val; official val is our test.
    assert keys["val"] == ["cityscapes/bochum_000000_000013"]
    assert keys["test"] == ["cityscapes/frankfurt_000000_000010", "cityscapes/frankfurt_000000_000011"]
    assert len(keys["train"]) == 9 and keys["train"] == sorted(keys["train"])
    all_keys = [key for split_keys in keys.values() for key in split_keys]
    assert len(all_keys) == len(set(all_keys)) and not any("berlin" in key for key in all_keys)
    errors = [key for key, sample in results["train"] if isinstance(sample, Exception)]
    assert errors == [f"cityscapes/{CORRUPT}"]
    for split, items in results.items():
        for key, sample in items:
            if isinstance(sample, Exception):
                continue
            assert set(sample) == {"rgb", "seg", "inst", "depth", "meta"} and sample["meta"]["split"] == split
            assert sample["rgb"].shape == (H, W, 3)
            encoded = encode_sample(key, sample)
            assert set(encoded) == {"__key__", "rgb.png", "seg.png", "inst.png", "depth.npy", "json"}


def test_without_disparity_and_camera(raw, caplog):
    shutil.rmtree(raw / "disparity_trainvaltest")
    shutil.rmtree(raw / "camera_trainvaltest")
    with caplog.at_level(logging.INFO, logger="components.data.native.cityscapes"):
        items = list(SOURCE.samples(raw, "test"))
    assert len(items) == 2
    for key, sample in items:
        assert set(sample) == {"rgb", "seg", "inst", "meta"} and "intrinsics" not in sample["meta"]
        encode_sample(key, sample)
    assert [record.getMessage() for record in caplog.records] == [
        "cityscapes test: no disparity_trainvaltest or camera_trainvaltest, so samples carry no depth "
        "(seg and instances only)"]


def test_missing_labels_tree(raw):
    shutil.rmtree(raw / "gtFine_trainvaltest")
    with pytest.raises(PixelpredError, match="gtFine_trainvaltest/gtFine/train is missing"):
        next(SOURCE.samples(raw, "train"))


def official_zip(folder: Path) -> bytes:
    """A package as cityscapes-dataset.com ships it: its tree (e.g. gtFine/...) plus README and license.txt on top."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README", "The Cityscapes Dataset\n")
        archive.writestr("license.txt", "non-commercial purposes only\n")
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def test_manual_zips_through_fetch(raw, tmp_path):
    entry = registry.entry("cityscapes")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for file in entry.files:            # what a user does after logging in
        (downloads / file.name).write_bytes(official_zip(raw / file.unpack))
    # The miniature zips are not the published ones, so their checksums are dropped; names and unpack dirs stay.
    files = tuple(replace(f, sha256="", checksum_source="") for f in entry.files)
    registry.fetch(replace(entry, files=files), downloads, tmp_path / "lock.json", DownloadConfig(), StorageConfig())
    assert json.loads((tmp_path / "lock.json").read_text()).keys() == {f.name for f in entry.files}
    key, sample = next(SOURCE.samples(downloads, "test"))
    assert key == "cityscapes/frankfurt_000000_000010"
    assert sample["depth"][5, 20] == pytest.approx(BASELINE * FX / 10, rel=1e-6) and sample["seg"][5, 1] == 13
    assert len(list(SOURCE.samples(downloads, "train"))) == 9
