"""The degrade stage: every split written, byte-stable, reproducible test degradations, no test photo in train."""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from components.config import DegradationConfig, DegradeConfig
from components.data.degradations import bicubic_sr, blend_weights, blur, jpeg, motion_kernel
from components.data.photos import load_photo
from components.data.restoration_set import MIN_SIDE, centre_crop, fixed_samples, tiles
from components.data.shards import load_split
from pipelines.cli import main
from tests.conftest import write_params

TILE, SIZE = 32, 64
DEGRADE = {"train_photos": ["chelsea", "color"], "test_photos": ["coffee", "camera"], "synth_train": 4,
           "synth_val": 3, "tile": TILE, "test_size": SIZE, "seed": 3, "samples_per_shard": 16,
           "degradation": {"blur_kernel_size": 15, "blur_length": [3.0, 15.0], "jpeg_qualities": [10, 40]}}


def run_degrade(directory: Path, synth: Path, degrade: dict) -> int:
    params = write_params(directory, {"degrade": degrade})
    return main(["--params", str(params), "degrade", "--synth", str(synth), "--out", str(directory / "restoration")])


@pytest.fixture(scope="module")
def restoration(tmp_path_factory, tiny_dataset) -> Path:
    directory = tmp_path_factory.mktemp("degrade")
    assert run_degrade(directory, tiny_dataset, DEGRADE) == 0
    return directory / "restoration"


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes() + str(array.shape).encode()).hexdigest()


def test_stage_writes_every_split(restoration):
    info = json.loads((restoration / "dataset.json").read_text())
    sizes = info["split_sizes"]
    assert info["source"] == "photos+synth" and info["class_names"] == []
    assert set(sizes) == {"train", "val", "deblur", "jpeg", "sr"} and set(info["skipped"].values()) == {0}
    assert (sizes["val"], sizes["deblur"], sizes["sr"], sizes["jpeg"]) == (3, 2, 2, 2 * 2)
    train = load_split(restoration, "train")
    assert len(train) == sizes["train"]
    sources = [sample["meta"]["source"] for sample in train]
    # chelsea 300 x 451 -> 9 x 14 tiles, color 370 x 371 -> 11 x 11 less 6 flat white corners, 48 x 64 renders -> 1 x 2
    assert sources.count("skimage") == 9 * 14 + 11 * 11 - 6 and sources.count("synth") == 4 * 2
    assert all(sample["gt"].shape == (TILE, TILE, 3) for sample in train)
    assert all(sample["gt"].shape == (48, 64, 3) for sample in load_split(restoration, "val"))


def test_jpeg_split_has_one_sample_per_photo_and_quality(restoration):
    samples = load_split(restoration, "jpeg")
    pairs = {(s["meta"]["photo"], s["meta"]["degradation"]["quality"]) for s in samples}
    assert pairs == {(photo, quality) for photo in ("coffee", "camera") for quality in (10, 40)}
    assert sorted(s["__key__"] for s in samples) == ["camera/q010", "camera/q040", "coffee/q010", "coffee/q040"]


def rebuild(gt: np.ndarray, params: dict) -> np.ndarray:
    """Stored degradation params -> the low-quality image, redone with the degradations library."""
    if params["task"] == "jpeg":
        return jpeg(gt, params["quality"])
    if params["task"] == "sr":
        return bicubic_sr(gt, params["scale"])
    kernels = [motion_kernel(k["length"], k["angle"], params["kernel_size"]) for k in params["kernels"]]
    return blur(gt, kernels, blend_weights(*gt.shape[:2], params["grid"]))


@pytest.mark.parametrize("split", ["deblur", "jpeg", "sr"])
def test_stored_params_rebuild_the_stored_lq(restoration, split):
    for sample in load_split(restoration, split):
        gt, lq, meta = sample["gt"], sample["lq"], sample["meta"]
        assert gt.shape == lq.shape == (SIZE, SIZE, 3) and meta["task"] == split
        assert not np.array_equal(gt, lq)
        np.testing.assert_array_equal(rebuild(gt, meta["degradation"]), lq)
        (top, left), crop = centre_crop(load_photo(meta["photo"]), SIZE)
        assert [top, left] == meta["origin"] and np.array_equal(crop, gt)


def test_test_samples_do_not_depend_on_order_or_neighbours():
    config = DegradeConfig(test_photos=("coffee", "camera"), test_size=SIZE, seed=3,
                           degradation=DegradationConfig(blur_kernel_size=15, blur_length=(3.0, 15.0)))
    alone = dict(fixed_samples(dataclasses.replace(config, test_photos=("camera",)), "deblur"))
    swapped = dict(fixed_samples(dataclasses.replace(config, test_photos=("camera", "coffee")), "deblur"))
    assert np.array_equal(alone["camera"]["lq"], swapped["camera"]["lq"])
    assert alone["camera"]["meta"] == swapped["camera"]["meta"]
    reseeded = dict(fixed_samples(dataclasses.replace(config, seed=4), "deblur"))
    assert reseeded["camera"]["meta"] != swapped["camera"]["meta"]


def windows(image: np.ndarray, size: int) -> set[str]:
    """Hashes of every size x size window of the image, at every offset."""
    height, width = image.shape[:2]
    return {digest(image[top:top + size, left:left + size])
            for top in range(height - size + 1) for left in range(width - size + 1)}


def test_test_photos_never_appear_in_train(restoration):
    train = {digest(sample["gt"]) for sample in load_split(restoration, "train")}
    test_windows = set().union(*(windows(s["gt"], TILE) for s in load_split(restoration, "deblur")))
    assert not train & test_windows
    # The check can fail: a train photo's centre crop does share windows with its own tiles.
    assert train & windows(centre_crop(load_photo("chelsea"), SIZE)[1], TILE)


def test_stage_is_byte_deterministic(tmp_path, tiny_dataset, restoration):
    assert run_degrade(tmp_path, tiny_dataset, DEGRADE) == 0
    files = sorted(path.name for path in restoration.iterdir())
    assert files == sorted(path.name for path in (tmp_path / "restoration").iterdir())
    for name in files:
        assert (restoration / name).read_bytes() == (tmp_path / "restoration" / name).read_bytes(), name


def test_unknown_photo_fails_before_writing(tmp_path, tiny_dataset, capsys):
    assert run_degrade(tmp_path, tiny_dataset, DEGRADE | {"test_photos": ["coffee", "lena"]}) == 2
    error = capsys.readouterr().err
    assert "unknown photo(s) 'lena'" in error and "known: astronaut" in error
    assert not (tmp_path / "restoration").exists() and not (tmp_path / ".restoration.partial").exists()


def test_too_few_synth_renders_fail_before_writing(tmp_path, tiny_dataset, capsys):
    assert run_degrade(tmp_path, tiny_dataset, DEGRADE | {"synth_val": 99}) == 2
    assert "degrade.synth_val is 99 but" in capsys.readouterr().err
    assert not (tmp_path / "restoration").exists()


def test_tiles_keep_short_sides_whole_and_drop_flat_and_partial_pieces():
    image = np.random.default_rng(0).integers(0, 256, (40, 100, 3), dtype=np.uint8)
    image[:, 64:96] = 7                                           # a flat piece
    pieces = dict(tiles(image, 32))
    assert list(pieces) == [(0, 0), (0, 32)]                     # (0, 64) flat, (0, 96) partial, row 32 partial
    assert [piece.shape for piece in pieces.values()] == [(32, 32, 3)] * 2
    assert [piece.shape for _, piece in tiles(image, 64)] == [(40, 64, 3)]   # 40 < 64: the whole height
    assert not list(tiles(image[:MIN_SIDE - 1], 16))
