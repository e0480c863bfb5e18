"""video: clips as frame-pair shards for training and whole clips for evaluation (SPEC §4.4, §7.3.1).

By default renders the `video` params' synth clips (camera and object motion, exact flow:
components.data.synth.video), alternating indoor and street scenes. With --downloads, converts the real video
datasets of `real_video.sources` instead (Sintel, DAVIS 2017, JHMDB: components.data.native, each from
<downloads>/<dataset>), resized to real_video.height x width, test clips from `real_video.test_from` only.
Train and val clips are cut into `pairs_per_clip` pairs 1..max_gap frames apart (seeded), each with its flow both
ways and the valid masks where the clip has them; test clips stay whole, with their instance masks and the flow
at every evaluation gap where the dataset has it. --preview writes one test clip: frames, instances, flow, valid.
"""
from __future__ import annotations

import argparse
import logging
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image
from tqdm import tqdm

from components.config import RealVideoConfig, VideoConfig, load_params
from components.data.dataset import DatasetInfo
from components.data.shards import write_shards
from components.data.sources import SPLITS, view_seed
from components.data.synth.render import CLASS_NAMES
from components.data.synth.video import SynthClip, sample_clip
from components.data.video import clip_sample, draw_pairs, get_video_source, pair_sample
from components.storage.local import atomic_directory
from components.tasks.colorize import colorize_gray, colorize_labels, flow_to_color, panel

log = logging.getLogger("pixelpred.video")
_PAIR_STREAM = 5
PREVIEW_COLUMNS, PREVIEW_ZOOM = 5, 2
REAL_CLASSES = ("background", "object")     # real clips' instance masks: 0 and the annotated objects' ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="shards directory: train/val pairs, test clips")
    parser.add_argument("--preview", type=Path, help="PNG of one test clip: frames | instances | flow | valid")
    parser.add_argument("--downloads", type=Path,
                        help="convert the real_video sources from <downloads>/<dataset> (the download stages' outputs)")


def synth_clip(config: VideoConfig, split: str, index: int) -> SynthClip:
    frames = config.test_frames if split == "test" else config.frames
    return sample_clip(view_seed(config.seed, split, index), frames, config.height, config.width,
                       scene=("indoor", "street")[index % 2])


def split_samples(config: VideoConfig, split: str) -> Iterator[tuple[str, dict]]:
    """One split's samples: pairs from each train/val clip, or each test clip whole."""
    for index in range(getattr(config.clips, split)):
        clip = synth_clip(config, split, index)
        meta = {"source": "synth_video", "split": split, "clip": f"{split}_{index:04d}", "scene": clip.scene.kind,
                "seed": view_seed(config.seed, split, index), "class_names": list(CLASS_NAMES)}
        if split == "test":
            yield f"clip_{split}_{index:04d}", clip_sample(clip, config.eval_gaps, meta)
            continue
        rng = np.random.default_rng([config.seed, _PAIR_STREAM, SPLITS.index(split), index])
        for number, (t, s) in enumerate(draw_pairs(clip.num_frames, config.pairs_per_clip, config.max_gap, rng)):
            yield f"pair_{split}_{index:04d}_{number:03d}", pair_sample(clip, t, s, meta)


def real_samples(config: RealVideoConfig, downloads: Path, split: str) -> Iterator[tuple[str, dict]]:
    """One split's samples from every real source: pairs from each train/val clip (seeded by the clip's key), each
    test clip of the `test_from` sources whole."""
    for name in config.sources:
        if split == "test" and name not in config.test_from:
            continue
        for key, clip in get_video_source(name).clips(downloads / name, split, config):
            meta = {"source": name, "split": split, "clip": key}
            if split == "test":
                yield key, clip_sample(clip, config.eval_gaps, meta)
                continue
            rng = np.random.default_rng([_PAIR_STREAM, SPLITS.index(split), zlib.crc32(key.encode())])
            max_gap = min(config.max_gap, clip.num_frames - 1)
            for number, (t, s) in enumerate(draw_pairs(clip.num_frames, config.pairs_per_clip, max_gap, rng)):
                yield f"{key}-pair{number:03d}", pair_sample(clip, t, s, meta)


def preview(sample: dict) -> np.ndarray:
    """A test clip sample -> uint8 panel: every few frames, their instance ids, the flow at the first stored gap and
    its valid mask (rows the clip has no data for are left out)."""
    frames = np.linspace(0, sample["frames"].shape[0] - 2, PREVIEW_COLUMNS).round().astype(int)
    rows = [[sample["frames"][t] for t in frames]]
    if "masks" in sample:
        rows.append([colorize_labels(sample["masks"][t]) for t in frames])
    if "flows" in sample:
        largest = float(np.abs(sample["flows"][0]).max()) or 1.0
        rows += [[flow_to_color(sample["flows"][0, t], largest) for t in frames],
                 [colorize_gray(sample["flows_valid"][0, t].astype(float)) for t in frames]]
    return panel(rows).repeat(PREVIEW_ZOOM, axis=0).repeat(PREVIEW_ZOOM, axis=1)


def write_real(config: RealVideoConfig, downloads: Path, out: Path, preview_path: Path | None) -> None:
    sizes: Counter = Counter()
    first_test: list[dict] = []

    def tally(samples: Iterator[tuple[str, dict]], split: str) -> Iterator[tuple[str, dict]]:
        for key, sample in samples:
            sizes[split] += 1
            if split == "test" and not first_test:
                first_test.append(sample)
            yield key, sample

    with atomic_directory(out) as staging:
        for split in SPLITS:
            unit = "clip" if split == "test" else "pair"
            samples = tqdm(tally(real_samples(config, downloads, split), split), desc=f"video {split}", unit=unit,
                           disable=None)
            write_shards(samples, staging, split, config.samples_per_shard)
            log.info("%s: %d %ss from %s", split, sizes[split], unit,
                     ", ".join(config.test_from if split == "test" else config.sources))
        DatasetInfo(source=f"{'-'.join(config.sources)}+{'-'.join(config.test_from)}", class_names=REAL_CLASSES,
                    split_sizes=dict(sizes), skipped={s: 0 for s in SPLITS}).write(staging)
    if preview_path:
        preview_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(preview(first_test[0])).save(preview_path)


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if args.downloads:
        write_real(params.real_video, args.downloads, args.out, args.preview)
        return
    config = params.video
    sizes: dict[str, int] = {}
    with atomic_directory(args.out) as staging:
        for split in SPLITS:
            total = getattr(config.clips, split) * (1 if split == "test" else config.pairs_per_clip)
            unit = "clip" if split == "test" else "pair"
            samples = tqdm(split_samples(config, split), total=total, desc=f"video {split}", unit=unit, disable=None)
            write_shards(samples, staging, split, config.samples_per_shard)
            sizes[split] = total
            log.info("%s: %d %ss from %d clips", split, total, unit, getattr(config.clips, split))
        DatasetInfo(source="synth_video", class_names=CLASS_NAMES, split_sizes=sizes,
                    skipped={s: 0 for s in SPLITS}).write(staging)
    if args.preview:
        args.preview.parent.mkdir(parents=True, exist_ok=True)
        first = clip_sample(synth_clip(config, "test", 0), config.eval_gaps, {})
        Image.fromarray(preview(first)).save(args.preview)
        log.info("preview: %s", args.preview)
