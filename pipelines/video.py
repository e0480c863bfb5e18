"""video: synth clips as frame-pair shards for training and whole clips for evaluation (SPEC §4.4, §7.3.1).

Renders the `video` params' clips (camera and object motion, exact flow: components.data.synth.video),
alternating indoor and street scenes. Train and val clips are cut into `pairs_per_clip` pairs 1..max_gap frames
apart (seeded), each with its flow both ways and the valid masks; test clips stay whole, with their instance
masks and the flow at every evaluation gap. --preview writes one test clip: frames, instances, flow, valid.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image
from tqdm import tqdm

from components.config import VideoConfig, load_params
from components.data.dataset import DatasetInfo
from components.data.shards import write_shards
from components.data.sources import SPLITS, view_seed
from components.data.synth.render import CLASS_NAMES
from components.data.synth.video import SynthClip, sample_clip
from components.data.video import clip_sample, draw_pairs, pair_sample
from components.storage.local import atomic_directory
from components.tasks.colorize import colorize_gray, colorize_labels, flow_to_color, panel

log = logging.getLogger("pixelpred.video")
_PAIR_STREAM = 5
PREVIEW_COLUMNS, PREVIEW_ZOOM = 5, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="shards directory: train/val pairs, test clips")
    parser.add_argument("--preview", type=Path, help="PNG of one test clip: frames | instances | flow | valid")


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


def preview(sample: dict) -> np.ndarray:
    """A test clip sample -> uint8 panel: every few frames, their instance ids, gap-1 flow and its valid mask."""
    frames = np.linspace(0, sample["frames"].shape[0] - 2, PREVIEW_COLUMNS).round().astype(int)
    largest = float(np.abs(sample["flows"][0]).max()) or 1.0
    grid = panel([[sample["frames"][t] for t in frames],
                  [colorize_labels(sample["masks"][t]) for t in frames],
                  [flow_to_color(sample["flows"][0, t], largest) for t in frames],
                  [colorize_gray(sample["flows_valid"][0, t].astype(float)) for t in frames]])
    return grid.repeat(PREVIEW_ZOOM, axis=0).repeat(PREVIEW_ZOOM, axis=1)


def main(args: argparse.Namespace) -> None:
    config = load_params(args.params).video
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
