"""The degrade stage: every split written, byte-stable, reproducible test degradations, no test photo in train."""

import dataclasses
import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from components.config import DegradationConfig, DegradeConfig
from components.data.degradations import blend_weights, blur, jpeg, motion_kernel, resampled_sr, shake_kernel
from components.data.photos import load_photo
from components.data.restoration_set import (FIXED_SPLITS, MIN_SIDE, SHIFTED_SPLITS, centre_crop, fixed_samples,
                                             sample_rng, shifted_samples, tiles)
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
    assert set(sizes) == {"train", "val", "deblur", "jpeg", "sr", "deblur_shake", "jpeg_shift", "sr_box"}
    assert set(info["skipped"].values()) == {0}
    assert (sizes["val"], sizes["deblur"], sizes["sr"], sizes["jpeg"]) == (3, 2, 2, 2 * 2)
    assert (sizes["deblur_shake"], sizes["jpeg_shift"], sizes["sr_box"]) == (2, 2 * 2, 2)
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


def test_shifted_splits_have_the_documented_keys_and_params(restoration):
    photos = ("camera", "coffee")
    splits = {split: sorted(load_split(restoration, split), key=lambda s: s["__key__"]) for split in SHIFTED_SPLITS}
    assert [s["__key__"] for s in splits["jpeg_shift"]] == [f"{p}/{v}" for p in photos for v in ("q010_444", "q030_420")]
    assert [s["__key__"] for s in splits["deblur_shake"]] == [s["__key__"] for s in splits["sr_box"]] == list(photos)
    for split, samples in splits.items():
        assert all(s["meta"]["shifted"] is True and s["meta"]["task"] == SHIFTED_SPLITS[split] for s in samples)
    assert [s["meta"]["degradation"] for s in splits["jpeg_shift"][:2]] == [
        {"task": "jpeg", "quality": 10, "subsampling": "4:4:4"}, {"task": "jpeg", "quality": 30, "subsampling": "4:2:0"}]
    assert splits["sr_box"][0]["meta"]["degradation"] == {"task": "sr", "scale": 4, "downsampler": "box",
                                                          "size": [SIZE, SIZE]}
    shakes = [s["meta"]["degradation"] for s in splits["deblur_shake"]]
    assert all(type(p.pop("trajectory_seed")) is int for p in shakes)
    assert shakes == [{"task": "deblur", "model": "camera_shake", "kernel_size": 30, "grid": 1, "length": 20.0,
                       "steps": 512}] * 2
    assert all("shifted" not in s["meta"] for split in ("deblur", "jpeg", "sr") for s in load_split(restoration, split))


def rebuild(gt: np.ndarray, params: dict) -> np.ndarray:
    """Stored degradation params -> the low-quality image, redone with the degradations library."""
    if params["task"] == "jpeg":
        return jpeg(gt, params["quality"], params.get("subsampling", "4:2:0"))
    if params["task"] == "sr":
        return resampled_sr(gt, params["scale"], params.get("downsampler", "bicubic"))
    if params.get("model") == "camera_shake":
        kernels = [shake_kernel(np.random.default_rng(params["trajectory_seed"]), params["length"],
                                params["kernel_size"], params["steps"])]
    else:
        kernels = [motion_kernel(k["length"], k["angle"], params["kernel_size"]) for k in params["kernels"]]
    return blur(gt, kernels, blend_weights(*gt.shape[:2], params["grid"]))


@pytest.mark.parametrize("split", ["deblur", "jpeg", "sr", "deblur_shake", "jpeg_shift", "sr_box"])
def test_stored_params_rebuild_the_stored_lq(restoration, split):
    for sample in load_split(restoration, split):
        gt, lq, meta = sample["gt"], sample["lq"], sample["meta"]
        assert gt.shape == lq.shape == (SIZE, SIZE, 3) and meta["task"] == SHIFTED_SPLITS.get(split, split)
        assert not np.array_equal(gt, lq)
        np.testing.assert_array_equal(rebuild(gt, meta["degradation"]), lq)
        (top, left), crop = centre_crop(load_photo(meta["photo"]), SIZE)
        assert [top, left] == meta["origin"] and np.array_equal(crop, gt)


@pytest.mark.parametrize("samples, split", [(fixed_samples, "deblur"), (shifted_samples, "deblur_shake")])
def test_test_samples_do_not_depend_on_order_or_neighbours(samples, split):
    config = DegradeConfig(test_photos=("coffee", "camera"), test_size=SIZE, seed=3,
                           degradation=DegradationConfig(blur_kernel_size=15, blur_length=(3.0, 15.0)))
    alone = dict(samples(dataclasses.replace(config, test_photos=("camera",)), split))
    swapped = dict(samples(dataclasses.replace(config, test_photos=("camera", "coffee")), split))
    assert np.array_equal(alone["camera"]["lq"], swapped["camera"]["lq"])
    assert alone["camera"]["meta"] == swapped["camera"]["meta"]
    reseeded = dict(samples(dataclasses.replace(config, seed=4), split))
    assert reseeded["camera"]["meta"] != swapped["camera"]["meta"]


def test_each_fixed_split_has_its_own_stream_and_the_task_streams_are_unchanged():
    first_draws = {split: sample_rng(3, "camera", split).integers(2 ** 32) for split in FIXED_SPLITS}
    assert len(set(first_draws.values())) == len(FIXED_SPLITS) == 6
    for index, task in enumerate(("deblur", "jpeg", "sr")):     # the streams the committed test sets came from
        expected = np.random.default_rng([3, zlib.crc32(b"camera"), index]).integers(2 ** 32)
        assert first_draws[task] == expected


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
