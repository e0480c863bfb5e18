"""The restoration dataset (SPEC §4.2, §4.4): DegradeConfig + its input images -> (key, sample) pairs per split.

Splits: `train` (clean `gt` tiles of the train photos and synth train renders; training crops
patches and degrades them on the fly), `val` (clean synth val renders; validation degrades
them deterministically) and one fixed test set per task, `deblur`, `jpeg` (one per quality) and
`sr`: the test photos centre-cropped to test_size², with a stored `lq` and its parameters. Then
one shifted test set per task, from another generator than training's (meta `shifted: true`):
`deblur_shake` (uniform camera-shake blur), `jpeg_shift` (other quality / chroma subsampling
pairs) and `sr_box` (box-averaged low-resolution image).

Real images (RestorationInputs, `degrade --train-images DIR [DIR ...] --test-images DIR`): prepared datasets' rgb
replace them: train tiles from the train splits, val from the val splits (of every training dataset, in the order
given: DIV2K and BSDS500 for deblurring and JPEG, §6.4.1), every test set from the test split. Test images
are whole, as the benchmarks score them (Tables 6.1-6.3), their sides trimmed (centred) to multiples of sr_scale;
val images are centre-cropped to test_size per side at most, to keep validation cheap. An image with a side under
MIN_SIDE is skipped, logged. A test set that brings its own `lq` (Köhler's
recorded camera shake) gives the deblur split alone, as it is: it has no clean image to make the other sets from.

Every test sample draws from its own Generator seeded by (seed, crc32 of the photo name, split),
so a sample depends on nothing else: not on the photo lists' order nor on the other samples.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import zlib
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from components.config import DegradeConfig
from components.data.dataset import DatasetInfo
from components.data.degradations import degrade, jpeg, resampled_sr, shake_blur
from components.data.photos import check_photos, load_photo
from components.data.shards import CorruptCounter, iterate_samples, read_manifest, shard_paths
from components.errors import PixelpredError

log = logging.getLogger(__name__)

TASKS = ("deblur", "jpeg", "sr")
SHIFTED_SPLITS = {"deblur_shake": "deblur", "jpeg_shift": "jpeg", "sr_box": "sr"}   # shifted test split -> its task
FIXED_SPLITS = (*TASKS, *SHIFTED_SPLITS)   # sample_rng's stream index: appending keeps the older streams
SPLITS = ("train", "val", *FIXED_SPLITS)
MIN_SIDE = 32       # a training image or real test crop with a shorter side is dropped: too small to use
FLAT_RANGE = 8      # a tile whose values span less than this is dropped (retina's black corners)


@dataclasses.dataclass(frozen=True)
class RestorationInputs:
    """Where the images come from: the skimage photos and synth renders by default, or prepared datasets."""
    synth: Path | None = None          # prepared synth shards (train and val renders); needed without train_images
    train_images: tuple[Path, ...] = ()   # prepared datasets: train tiles from their train splits, val from val
    test_images: Path | None = None    # prepared dataset: every test split from its test split


class Crop(NamedTuple):
    """One test (or real val) image as the splits use it."""
    key: str                    # its sample key (variants append to it); also seeds its degradations
    gt: np.ndarray              # uint8 h x w x 3
    origin: tuple[int, int]     # (top, left) of the crop in its image
    meta: dict                  # where it came from


def _require_splits(directory: Path, splits: tuple[str, ...]) -> None:
    """Raise PixelpredError unless the prepared dataset has samples in every one of `splits`."""
    info = DatasetInfo.read(directory)
    empty = [split for split in splits if info.split_sizes.get(split, 0) < 1]
    if empty:
        raise PixelpredError(f"{directory} ({info.source}) has no {' or '.join(empty)} samples (degrade needs them)")


def check_inputs(config: DegradeConfig, inputs: RestorationInputs) -> None:
    """Raise PixelpredError for unknown or too small photos, too few synth renders or missing splits; loads little."""
    photos = (() if inputs.train_images else config.train_photos) + (() if inputs.test_images else config.test_photos)
    check_photos(photos)
    if inputs.test_images is None:
        for name in config.test_photos:
            height, width = load_photo(name).shape[:2]
            if min(height, width) < config.test_size:
                raise PixelpredError(f"test photo {name!r} is {height} x {width}, smaller than degrade.test_size "
                                     f"{config.test_size}")
    else:
        _require_splits(inputs.test_images, ("test",))
        log.info("test images from %s (degrade.test_photos unused)", inputs.test_images)
    if inputs.train_images:
        for directory in inputs.train_images:
            _require_splits(directory, ("train", "val"))
        log.info("train and val images from %s (degrade.train_photos, synth_*: unused)",
                 ", ".join(map(str, inputs.train_images)))
        return
    if inputs.synth is None:
        raise PixelpredError("the degrade stage needs --synth (the synth train and val renders) or --train-images")
    wanted = {"train": config.synth_train, "val": config.synth_val}
    if not any(wanted.values()):
        return
    available = DatasetInfo.read(Path(inputs.synth)).split_sizes
    for split, count in wanted.items():
        if count > available.get(split, 0):
            raise PixelpredError(f"degrade.synth_{split} is {count} but {inputs.synth} has only "
                                 f"{available.get(split, 0)} synth {split} renders")


def brings_lq(test_images: Path) -> bool:
    """Prepared dataset -> whether its test samples carry their own lq (real degradations); a mix is an error."""
    fields = read_manifest(test_images, "test").column("fields").to_pylist()
    with_lq = sum("lq" in names for names in fields)
    if 0 < with_lq < len(fields):
        raise PixelpredError(f"{test_images}: {with_lq} of {len(fields)} test samples carry an lq; all or none must")
    return with_lq > 0


def output_splits(inputs: RestorationInputs) -> tuple[str, ...]:
    """The splits this input gives: every split, or train, val and deblur for a test set with its own lq."""
    if inputs.test_images is None or not brings_lq(inputs.test_images):
        return SPLITS
    log.info("%s: its test samples bring a recorded lq, so only the deblur split is made, from them as they are "
             "(no jpeg, sr or shifted test splits)", inputs.test_images)
    return ("train", "val", "deblur")


def source_name(inputs: RestorationInputs) -> str:
    """Which datasets the set came from: 'photos+synth' by default, e.g. 'div2k+bsds500+set5' from prepared ones
    (the test set last)."""
    train = "+".join(DatasetInfo.read(d).source for d in inputs.train_images) if inputs.train_images else "photos+synth"
    test = DatasetInfo.read(inputs.test_images).source if inputs.test_images else "photos"
    return "+".join(dict.fromkeys(f"{train}+{test}".split("+")))


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


def fitting_crop(image: np.ndarray, size: int | None, multiple: int) -> tuple[tuple[int, int], np.ndarray]:
    """uint8 H x W x 3 -> ((top, left), its central crop): `size` per side at most (None: no cap), sides multiples
    of `multiple`."""
    height, width = (min(size or side, side - side % multiple) for side in image.shape[:2])
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return (top, left), np.ascontiguousarray(image[top:top + height, left:left + width])


def prepared(directory: Path, split: str, counter: CorruptCounter,
             required: Collection[str] = ("rgb",)) -> Iterator[dict]:
    """A prepared dataset's split -> its readable samples in shard order (corrupt ones skipped and counted)."""
    return iter(iterate_samples(shard_paths(Path(directory), split), counter=counter, required=required))


def synth_renders(synth_dir: Path, split: str, count: int, counter: CorruptCounter) -> Iterator[tuple[str, dict]]:
    """Prepared synth shards -> (key, {rgb, meta}) of the first `count` readable renders of `split`, in order."""
    if count == 0:
        return
    for sample in itertools.islice(prepared(synth_dir, split, counter), count):
        yield sample["__key__"], {"rgb": sample["rgb"], "meta": sample.get("meta", {})}


def photo_crops(config: DegradeConfig) -> Iterator[Crop]:
    """Test photos -> their central test_size² crops."""
    for name in config.test_photos:
        origin, gt = centre_crop(load_photo(name), config.test_size)
        yield Crop(name, gt, origin, {"source": "skimage", "photo": name})


def image_crops(directory: Path, split: str, config: DegradeConfig, counter: CorruptCounter,
                size: int | None) -> Iterator[Crop]:
    """A prepared split's rgb -> fitting crops (`size` at most, None: whole; sides multiples of sr_scale); tiny
    ones skipped."""
    name = DatasetInfo.read(directory).source
    for sample in prepared(directory, split, counter):
        key = sample["__key__"]
        origin, gt = fitting_crop(sample["rgb"], size, config.degradation.sr_scale)
        if min(gt.shape[:2]) < MIN_SIDE:
            log.warning("%s %s: %s is %d x %d, too small to test on: skipped", directory, split, key,
                        *sample["rgb"].shape[:2])
            continue
        yield Crop(key, gt, origin, {"source": name, "image": key})


def _tile_samples(key: str, image: np.ndarray, meta: dict, tile: int) -> Iterator[tuple[str, dict]]:
    """One training image -> (key/<top>_<left>, {gt: tile, meta with its origin}) per kept tile."""
    for (top, left), piece in tiles(image, tile):
        yield f"{key}/{top:04d}_{left:04d}", {"gt": piece, "meta": meta | {"origin": [top, left]}}


def train_samples(config: DegradeConfig, inputs: RestorationInputs,
                  counter: CorruptCounter) -> Iterator[tuple[str, dict]]:
    """Train photos then synth train renders, or prepared train splits -> (key, {gt: tile x tile uint8, meta})."""
    if inputs.train_images:
        for directory in inputs.train_images:
            name = DatasetInfo.read(directory).source
            for sample in prepared(directory, "train", counter):
                key = sample["__key__"]
                yield from _tile_samples(key, sample["rgb"], {"source": name, "image": key}, config.tile)
        return
    for name in config.train_photos:
        yield from _tile_samples(name, load_photo(name), {"source": "skimage", "photo": name}, config.tile)
    for key, render in synth_renders(inputs.synth, "train", config.synth_train, counter):
        yield from _tile_samples(key, render["rgb"], {"source": "synth", "render": key,
                                                      "scene": render["meta"].get("scene")}, config.tile)


def val_samples(config: DegradeConfig, inputs: RestorationInputs,
                counter: CorruptCounter) -> Iterator[tuple[str, dict]]:
    """Synth val renders (whole) or prepared val splits' fitting crops -> (key, {gt, meta}); validation degrades."""
    if inputs.train_images:
        for directory in inputs.train_images:
            for crop in image_crops(directory, "val", config, counter, config.test_size):
                yield crop.key, {"gt": crop.gt, "meta": crop.meta | {"origin": list(crop.origin)}}
        return
    for key, render in synth_renders(inputs.synth, "val", config.synth_val, counter):
        yield key, {"gt": render["rgb"], "meta": {"source": "synth", "render": key,
                                                  "scene": render["meta"].get("scene")}}


def sample_rng(seed: int, photo: str, split: str) -> np.random.Generator:
    """(seed, photo name, fixed test split: a task or a shifted split) -> the Generator of that one test sample."""
    return np.random.default_rng([seed, zlib.crc32(photo.encode()), FIXED_SPLITS.index(split)])


def fixed_samples(config: DegradeConfig, task: str, crops: Iterable[Crop] | None = None) -> Iterator[tuple[str, dict]]:
    """Test crops (default: the test photos') -> (key, {gt, lq: same size uint8, meta with the degradation params}).

    jpeg gives one sample per crop per quality in degradation.jpeg_qualities, keyed <key>/q<quality>.
    """
    for crop in photo_crops(config) if crops is None else crops:
        variants = [(crop.key, config.degradation)]
        if task == "jpeg":
            variants = [(f"{crop.key}/q{quality:03d}", dataclasses.replace(config.degradation, jpeg_quality=quality))
                        for quality in config.degradation.jpeg_qualities]
        for key, degradation in variants:
            lq, params = degrade(task, crop.gt, sample_rng(config.seed, crop.key, task), degradation)
            meta = crop.meta | {"task": task, "origin": list(crop.origin), "degradation": params}
            yield key, {"gt": crop.gt, "lq": lq, "meta": meta}


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


def shifted_samples(config: DegradeConfig, split: str,
                    crops: Iterable[Crop] | None = None) -> Iterator[tuple[str, dict]]:
    """Test crops (default: the test photos') -> (key, {gt, lq, meta with the params and shifted: true}).

    jpeg_shift gives one sample per crop per (quality, subsampling) in shifted.jpeg, keyed
    <key>/q<quality>_<subsampling without colons>, e.g. camera/q010_444.
    """
    for crop in photo_crops(config) if crops is None else crops:
        for suffix, lq, params in _SHIFTED_VARIANTS[split](crop.gt, sample_rng(config.seed, crop.key, split), config):
            meta = crop.meta | {"task": SHIFTED_SPLITS[split], "origin": list(crop.origin), "degradation": params,
                                "shifted": True}
            yield crop.key + suffix, {"gt": crop.gt, "lq": lq, "meta": meta}


def recorded_samples(test_images: Path, counter: CorruptCounter) -> Iterator[tuple[str, dict]]:
    """A prepared test split that brings its own lq -> deblur samples, gt and lq as they are (no crop)."""
    name = DatasetInfo.read(test_images).source
    for sample in prepared(test_images, "test", counter, required=("gt", "lq")):
        key = sample["__key__"]
        meta = {"source": name, "image": key, "task": "deblur", "origin": [0, 0],
                "degradation": {"task": "deblur", "model": "recorded"}, "native": sample.get("meta", {})}
        yield key, {"gt": sample["gt"], "lq": sample["lq"], "meta": meta}


def split_samples(split: str, config: DegradeConfig, inputs: RestorationInputs,
                  counter: CorruptCounter) -> Iterator[tuple[str, dict]]:
    """Split name in SPLITS -> its (key, sample) pairs; corrupt input samples are skipped and counted."""
    if split == "train":
        return train_samples(config, inputs, counter)
    if split == "val":
        return val_samples(config, inputs, counter)
    if split not in FIXED_SPLITS:
        raise PixelpredError(f"unknown restoration split {split!r} (known: {', '.join(SPLITS)})")
    if inputs.test_images is not None and brings_lq(inputs.test_images):
        if split != "deblur":
            raise PixelpredError(f"{inputs.test_images} brings its own lq: it gives the deblur split, not {split!r}")
        return recorded_samples(inputs.test_images, counter)
    crops = image_crops(inputs.test_images, "test", config, counter, None) if inputs.test_images else photo_crops(config)
    return fixed_samples(config, split, crops) if split in TASKS else shifted_samples(config, split, crops)
