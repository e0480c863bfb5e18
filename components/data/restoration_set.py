"""The restoration dataset (SPEC §4.2, §4.4): DegradeConfig + synth shards -> (key, sample) pairs per split.

Splits: `train` (clean `gt` tiles of the train photos and synth train renders; training crops
patches and degrades them on the fly), `val` (clean synth val renders; validation degrades
them deterministically) and one fixed test set per task, `deblur`, `jpeg` (one per quality) and
`sr`: the test photos centre-cropped to test_size², with a stored `lq` and its parameters. Then
one shifted test set per task, from another generator than training's (meta `shifted: true`):
`deblur_shake` (uniform camera-shake blur), `jpeg_shift` (other quality / chroma subsampling
pairs) and `sr_box` (box-averaged low-resolution image).

Every test sample draws from its own Generator seeded by (seed, crc32 of the photo name, split),
so a sample depends on nothing else: not on the photo lists' order nor on the other samples.
"""
from __future__ import annotations

import dataclasses
import itertools
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from components.config import DegradeConfig
from components.data.dataset import DatasetInfo
from components.data.degradations import degrade, jpeg, resampled_sr, shake_blur
from components.data.photos import check_photos, load_photo
from components.data.shards import CorruptCounter, iterate_samples, shard_paths
from components.errors import PixelpredError

TASKS = ("deblur", "jpeg", "sr")
SHIFTED_SPLITS = {"deblur_shake": "deblur", "jpeg_shift": "jpeg", "sr_box": "sr"}   # shifted test split -> its task
FIXED_SPLITS = (*TASKS, *SHIFTED_SPLITS)   # sample_rng's stream index: appending keeps the older streams
SPLITS = ("train", "val", *FIXED_SPLITS)
MIN_SIDE = 32       # a training image with a shorter side is dropped: too small for useful crops
FLAT_RANGE = 8      # a tile whose values span less than this is dropped (retina's black corners)


def check_inputs(config: DegradeConfig, synth_dir: Path) -> None:
    """Raise PixelpredError for unknown photos, test photos under test_size, or too few synth renders; loads little."""
    check_photos(config.train_photos + config.test_photos)
    for name in config.test_photos:
        height, width = load_photo(name).shape[:2]
        if min(height, width) < config.test_size:
            raise PixelpredError(f"test photo {name!r} is {height} x {width}, smaller than degrade.test_size "
                                 f"{config.test_size}")
    wanted = {"train": config.synth_train, "val": config.synth_val}
    if not any(wanted.values()):
        return
    available = DatasetInfo.read(Path(synth_dir)).split_sizes
    for split, count in wanted.items():
        if count > available.get(split, 0):
            raise PixelpredError(f"degrade.synth_{split} is {count} but {synth_dir} has only "
                                 f"{available.get(split, 0)} synth {split} renders")


def tiles(image: np.ndarray, tile: int) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    """uint8 H x W x 3 -> ((top, left), piece) for non-overlapping tile x tile pieces, top-left aligned.

    Partial pieces at the right and bottom edges are dropped. A side shorter than `tile` is kept
    whole instead (a 96 x 300 image gives 96 x tile pieces): resizing it would change exactly the
    blur, aliasing and JPEG statistics a restoration model learns to invert. Flat pieces are dropped.
    """
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        return
    piece_h, piece_w = min(tile, height), min(tile, width)
    for top, left in itertools.product(range(0, height - piece_h + 1, piece_h), range(0, width - piece_w + 1, piece_w)):
        piece = image[top:top + piece_h, left:left + piece_w]
        if int(np.ptp(piece)) >= FLAT_RANGE:
            yield (top, left), np.ascontiguousarray(piece)


def centre_crop(image: np.ndarray, size: int) -> tuple[tuple[int, int], np.ndarray]:
    """uint8 H x W x 3 -> ((top, left), its central size x size crop)."""
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return (top, left), np.ascontiguousarray(image[top:top + size, left:left + size])


def synth_renders(synth_dir: Path, split: str, count: int, counter: CorruptCounter) -> Iterator[tuple[str, dict]]:
    """Prepared synth shards -> (key, {rgb, meta}) of the first `count` readable renders of `split`, in order."""
    if count == 0:
        return
    samples = iterate_samples(shard_paths(Path(synth_dir), split), counter=counter, required=("rgb",))
    for sample in itertools.islice(samples, count):
        yield sample["__key__"], {"rgb": sample["rgb"], "meta": sample.get("meta", {})}


def train_samples(config: DegradeConfig, synth_dir: Path, counter: CorruptCounter) -> Iterator[tuple[str, dict]]:
    """Train photos then synth train renders -> (key, {gt: tile x tile uint8, meta}) clean training tiles."""
    def pieces(key: str, image: np.ndarray, meta: dict) -> Iterator[tuple[str, dict]]:
        for (top, left), piece in tiles(image, config.tile):
            yield f"{key}/{top:04d}_{left:04d}", {"gt": piece, "meta": meta | {"origin": [top, left]}}

    for name in config.train_photos:
        yield from pieces(name, load_photo(name), {"source": "skimage", "photo": name})
    for key, render in synth_renders(synth_dir, "train", config.synth_train, counter):
        yield from pieces(key, render["rgb"], {"source": "synth", "render": key,
                                               "scene": render["meta"].get("scene")})


def val_samples(config: DegradeConfig, synth_dir: Path, counter: CorruptCounter) -> Iterator[tuple[str, dict]]:
    """Synth val renders -> (key, {gt: whole render, meta}); validation degrades them itself."""
    for key, render in synth_renders(synth_dir, "val", config.synth_val, counter):
        yield key, {"gt": render["rgb"], "meta": {"source": "synth", "render": key,
                                                  "scene": render["meta"].get("scene")}}


def sample_rng(seed: int, photo: str, split: str) -> np.random.Generator:
    """(seed, photo name, fixed test split: a task or a shifted split) -> the Generator of that one test sample."""
    return np.random.default_rng([seed, zlib.crc32(photo.encode()), FIXED_SPLITS.index(split)])


def fixed_samples(config: DegradeConfig, task: str) -> Iterator[tuple[str, dict]]:
    """Test photos -> (key, {gt, lq: test_size² uint8, meta with the degradation params}) for one task.

    jpeg gives one sample per photo per quality in degradation.jpeg_qualities, keyed <photo>/q<quality>.
    """
    for name in config.test_photos:
        origin, gt = centre_crop(load_photo(name), config.test_size)
        variants = [(name, config.degradation)]
        if task == "jpeg":
            variants = [(f"{name}/q{quality:03d}", dataclasses.replace(config.degradation, jpeg_quality=quality))
                        for quality in config.degradation.jpeg_qualities]
        for key, degradation in variants:
            lq, params = degrade(task, gt, sample_rng(config.seed, name, task), degradation)
            meta = {"source": "skimage", "photo": name, "task": task, "origin": list(origin), "degradation": params}
            yield key, {"gt": gt, "lq": lq, "meta": meta}


Variant = tuple[str, np.ndarray, dict]    # (key suffix, lq, degradation params) of one sample of a photo


def _shake_variants(gt: np.ndarray, rng: np.random.Generator, config: DegradeConfig) -> list[Variant]:
    """Test crop -> its one camera-shake sample (draws the trajectory's seed)."""
    return [("", *shake_blur(gt, rng, config.shifted))]


def _jpeg_variants(gt: np.ndarray, rng: np.random.Generator, config: DegradeConfig) -> list[Variant]:
    """Test crop -> one sample per (quality, subsampling) pair; draws nothing."""
    return [(f"/q{quality:03d}_{subsampling.replace(':', '')}", jpeg(gt, quality, subsampling),
             {"task": "jpeg", "quality": quality, "subsampling": subsampling})
            for quality, subsampling in config.shifted.jpeg]


def _sr_variants(gt: np.ndarray, rng: np.random.Generator, config: DegradeConfig) -> list[Variant]:
    """Test crop -> its one sample at the trained scale, made by the shifted downsampler; draws nothing."""
    scale, downsampler = config.degradation.sr_scale, config.shifted.sr_downsampler
    lq = resampled_sr(gt, scale, downsampler)
    return [("", lq, {"task": "sr", "scale": scale, "downsampler": downsampler, "size": list(lq.shape[:2])})]


_SHIFTED_VARIANTS = {"deblur_shake": _shake_variants, "jpeg_shift": _jpeg_variants, "sr_box": _sr_variants}


def shifted_samples(config: DegradeConfig, split: str) -> Iterator[tuple[str, dict]]:
    """Test photos -> (key, {gt, lq: test_size² uint8, meta with the params and shifted: true}) for a shifted split.

    jpeg_shift gives one sample per photo per (quality, subsampling) in shifted.jpeg, keyed
    <photo>/q<quality>_<subsampling without colons>, e.g. camera/q010_444.
    """
    for name in config.test_photos:
        origin, gt = centre_crop(load_photo(name), config.test_size)
        for suffix, lq, params in _SHIFTED_VARIANTS[split](gt, sample_rng(config.seed, name, split), config):
            meta = {"source": "skimage", "photo": name, "task": SHIFTED_SPLITS[split], "origin": list(origin),
                    "degradation": params, "shifted": True}
            yield name + suffix, {"gt": gt, "lq": lq, "meta": meta}


def split_samples(split: str, config: DegradeConfig, synth_dir: Path,
                  counter: CorruptCounter) -> Iterator[tuple[str, dict]]:
    """Split name in SPLITS -> its (key, sample) pairs; corrupt synth renders are skipped and counted."""
    if split == "train":
        return train_samples(config, synth_dir, counter)
    if split == "val":
        return val_samples(config, synth_dir, counter)
    if split in TASKS:
        return fixed_samples(config, split)
    if split in SHIFTED_SPLITS:
        return shifted_samples(config, split)
    raise PixelpredError(f"unknown restoration split {split!r} (known: {', '.join(SPLITS)})")
