"""The degrade stage on real images: `--train-images` / `--test-images` on tiny prepared shards (written with
write_shards and DatasetInfo, as the prepare stage writes them).

Proven: train tiles are cut from the train split's rgb (each tile is the image's pixels at its origin) and val is
the val split's centre crop (test_size per side at most); every fixed and shifted test split is made from the test
split, its gt the whole test image with sides trimmed to multiples of sr_scale (a 50 x 62 image gives its central
48 x 60) and its lq the documented degradation of that gt; an image too small to test on is skipped with a log
line; dataset.json names both datasets; several training sets give their train tiles and val images one after
the other; a test set that brings its own lq (Köhler) gives train, val and deblur only, its gt and lq kept bit
for bit, and the task's evaluation scores them; without --train-images, --synth is required; the default path
(photos and synth) still makes exactly the samples it made before these flags existed.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from components.config import DegradationConfig, DegradeConfig
from components.data.dataset import DatasetInfo
from components.data.degradations import jpeg, resampled_sr
from components.data.restoration_set import (FIXED_SPLITS, SPLITS, TASKS, RestorationInputs, fixed_samples,
                                             shifted_samples, train_samples)
from components.data.shards import CorruptCounter, load_split, write_shards
from components.tasks.restoration import RestorationEvaluation
from pipelines.cli import main
from tests.conftest import write_params

TILE, SIZE = 32, 64
DEGRADE = {"tile": TILE, "test_size": SIZE, "seed": 3, "samples_per_shard": 4,
           "degradation": {"blur_kernel_size": 15, "blur_length": [3.0, 15.0], "jpeg_qualities": [10, 40]}}


def image(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_prepared(directory: Path, source: str, splits: dict[str, dict[str, dict]]) -> Path:
    """{split: {key: sample}} -> a prepared dataset directory (shards, manifests, dataset.json)."""
    for split, samples in splits.items():
        write_shards(samples.items(), directory, split, samples_per_shard=2)
    DatasetInfo(source=source, class_names=("image",), split_sizes={s: len(v) for s, v in splits.items()},
                skipped={s: 0 for s in splits}).write(directory)
    return directory


TRAIN_IMAGES = {"div2k/0001": image(1, 70, 100), "div2k/0002": image(2, 64, 96)}
VAL_IMAGE = image(3, 80, 90)
BSDS_TRAIN, BSDS_VAL = {"bsds500/100075": image(8, 64, 64)}, {"bsds500/101085": image(9, 48, 48)}
TEST_IMAGES = {"set5/big": image(4, 100, 120), "set5/small": image(5, 50, 62), "set5/tiny": image(6, 20, 20)}
KOHLER = {f"kohler/image1/kernel0{t}": {"gt": image(10 + t, 40, 48), "lq": image(20 + t, 40, 48),
                                        "meta": {"dataset": "kohler", "frame": 100, "frames": 199}} for t in (1, 2)}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prepared")
    rgb = lambda images: {key: {"rgb": value, "meta": {}} for key, value in images.items()}   # noqa: E731
    write_prepared(root / "div2k", "div2k", {"train": rgb(TRAIN_IMAGES), "val": rgb({"div2k/0010": VAL_IMAGE}),
                                             "test": rgb({"div2k/0801": image(7, 40, 40)})})
    write_prepared(root / "bsds500", "bsds500", {"train": rgb(BSDS_TRAIN), "val": rgb(BSDS_VAL)})
    write_prepared(root / "set5", "set5", {"test": rgb(TEST_IMAGES)})
    write_prepared(root / "kohler", "kohler", {"test": KOHLER})
    return root


def run_degrade(directory: Path, *flags: str) -> int:
    params = write_params(directory, {"degrade": DEGRADE})
    return main(["--params", str(params), "degrade", *flags, "--out", str(directory / "restoration")])


@pytest.fixture(scope="module")
def div2k_set5(prepared, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("div2k_set5")
    flags = ("--train-images", str(prepared / "div2k"), "--test-images", str(prepared / "set5"))
    assert run_degrade(directory, *flags) == 0
    return directory / "restoration"


def by_key(directory: Path, split: str) -> dict[str, dict]:
    return {sample["__key__"]: sample for sample in load_split(directory, split)}


def test_split_sizes_and_source(div2k_set5):
    info = json.loads((div2k_set5 / "dataset.json").read_text())
    assert info["source"] == "div2k+set5" and info["class_names"] == [] and set(info["skipped"].values()) == {0}
    # 70 x 100 -> 2 x 3 tiles of 32, 64 x 96 -> 2 x 3; one val image; big and small test images (tiny skipped).
    assert info["split_sizes"] == {"train": 12, "val": 1, "deblur": 2, "jpeg": 2 * 2, "sr": 2, "deblur_shake": 2,
                                   "jpeg_shift": 2 * 2, "sr_box": 2}


def test_train_tiles_and_val_come_from_the_train_dataset(div2k_set5):
    train = by_key(div2k_set5, "train")
    assert sorted(train)[:3] == ["div2k/0001/0000_0000", "div2k/0001/0000_0032", "div2k/0001/0000_0064"]
    for sample in train.values():
        top, left = sample["meta"]["origin"]
        source = TRAIN_IMAGES[sample["meta"]["image"]]
        np.testing.assert_array_equal(sample["gt"], source[top:top + TILE, left:left + TILE])
        assert sample["meta"]["source"] == "div2k" and "lq" not in sample
    (val,) = load_split(div2k_set5, "val")
    assert val["__key__"] == "div2k/0010" and val["meta"]["origin"] == [8, 13]
    np.testing.assert_array_equal(val["gt"], VAL_IMAGE[8:72, 13:77])


def test_test_gt_is_the_whole_test_image_trimmed_to_the_sr_scale(div2k_set5):
    for split in FIXED_SPLITS:
        samples = by_key(div2k_set5, split)
        for sample in samples.values():
            name, meta = sample["meta"]["image"], sample["meta"]
            top, left = meta["origin"]
            height, width = sample["gt"].shape[:2]
            assert (height, width) == {"set5/big": (100, 120), "set5/small": (48, 60)}[name]     # not test_size
            assert (top, left) == {"set5/big": (0, 0), "set5/small": (1, 1)}[name]      # centred
            np.testing.assert_array_equal(sample["gt"], TEST_IMAGES[name][top:top + height, left:left + width])
            assert sample["lq"].shape == sample["gt"].shape and meta["source"] == "set5"
    assert sorted(by_key(div2k_set5, "jpeg")) == [f"set5/{name}/q0{q}" for name in ("big", "small") for q in (10, 40)]


def test_test_lq_is_the_documented_degradation_of_its_gt(div2k_set5):
    for sample in load_split(div2k_set5, "jpeg"):
        np.testing.assert_array_equal(sample["lq"], jpeg(sample["gt"], sample["meta"]["degradation"]["quality"]))
    for split, downsampler in (("sr", "bicubic"), ("sr_box", "box")):
        for sample in load_split(div2k_set5, split):
            np.testing.assert_array_equal(sample["lq"], resampled_sr(sample["gt"], 4, downsampler))
    assert all(s["meta"]["shifted"] is True for s in load_split(div2k_set5, "deblur_shake"))


def test_too_small_test_image_is_skipped_with_a_log_line(prepared, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert run_degrade(tmp_path, "--train-images", str(prepared / "div2k"),
                           "--test-images", str(prepared / "set5")) == 0
    assert "set5/tiny is 20 x 20, too small to test on: skipped" in caplog.text


def test_recorded_lq_is_kept_and_only_deblur_is_made(prepared, tmp_path, caplog):
    """As datasets/dvc.yaml:restoration_div2k_bsds500@kohler makes it: DIV2K's and BSDS500's tiles, then Köhler's."""
    with caplog.at_level(logging.INFO):
        assert run_degrade(tmp_path, "--train-images", str(prepared / "div2k"), str(prepared / "bsds500"),
                           "--test-images", str(prepared / "kohler")) == 0
    assert "only the deblur split is made" in caplog.text
    restoration = tmp_path / "restoration"
    info = DatasetInfo.read(restoration)
    assert info.source == "div2k+bsds500+kohler" and info.split_sizes == {"train": 16, "val": 2, "deblur": 2}
    train = load_split(restoration, "train")    # 12 DIV2K tiles (as with DIV2K alone), then BSDS500's 2 x 2
    assert [s["meta"]["source"] for s in train] == ["div2k"] * 12 + ["bsds500"] * 4
    np.testing.assert_array_equal(train[-1]["gt"], BSDS_TRAIN["bsds500/100075"][32:, 32:])
    assert [s["__key__"] for s in load_split(restoration, "val")] == ["div2k/0010", "bsds500/101085"]
    samples = by_key(restoration, "deblur")
    assert sorted(samples) == sorted(KOHLER)
    for key, sample in samples.items():
        np.testing.assert_array_equal(sample["lq"], KOHLER[key]["lq"])
        np.testing.assert_array_equal(sample["gt"], KOHLER[key]["gt"])
        assert sample["meta"]["degradation"] == {"task": "deblur", "model": "recorded"}
        assert sample["meta"]["native"]["frame"] == 100 and sample["meta"]["source"] == "kohler"
    evaluation = RestorationEvaluation("rgb")            # the deblur task scores them (here: the blurry input)
    evaluation.update([s["lq"] for s in samples.values()], list(samples.values()))
    assert evaluation.compute()["num_images"] == 2


def test_synth_is_required_without_train_images(prepared, tmp_path, capsys):
    assert run_degrade(tmp_path, "--test-images", str(prepared / "set5")) == 2
    assert "needs --synth" in capsys.readouterr().err and not (tmp_path / "restoration").exists()


def test_default_path_makes_the_same_samples_as_before():
    """Pinned digest of every default-path sample (keys, gt, lq, meta) of the photos, computed with the code before
    --train-images / --test-images existed. It moves if a degradation changes, Pillow's JPEG/resampling included."""
    config = DegradeConfig(train_photos=("chelsea",), test_photos=("coffee", "camera"), synth_train=0, tile=TILE,
                           test_size=SIZE, seed=3,
                           degradation=DegradationConfig(blur_kernel_size=15, blur_length=(3.0, 15.0),
                                                         jpeg_qualities=(10, 40)))
    digest = hashlib.sha256()
    splits = [train_samples(config, RestorationInputs(), CorruptCounter())] + [
        fixed_samples(config, split) if split in TASKS else shifted_samples(config, split) for split in FIXED_SPLITS]
    for samples in splits:
        for key, sample in samples:
            digest.update(key.encode())
            for name in ("gt", "lq"):
                if name in sample:
                    digest.update(sample[name].tobytes())
            digest.update(json.dumps(sample["meta"], sort_keys=True).encode())
    assert digest.hexdigest() == "86fa167d0339ae1ae5a4813a61b7b2210f259a3e24138b02ff1d2a644e569279"
    assert SPLITS == ("train", "val", "deblur", "jpeg", "sr", "deblur_shake", "jpeg_shift", "sr_box")
