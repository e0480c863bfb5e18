"""panoramas: equirectangular panoramas with camera-relative normals (thesis App. B.1), as shards.

Without --shards, renders synth panoramas (`panorama` in params.yaml), whose normals are in the global frame
like Stanford-2D-3D's; with --shards, reads prepared panoramas (e.g. data/stanford2d3d). Either way each
panorama's normals are turned into normals relative to each column's viewing direction, from a canonical
point chosen automatically (the nearest point of a large vertical plane) or taken from --overrides.
The canonical point goes into each sample's meta; --preview writes rgb | global | local normals of a few.
A panorama whose meta names `crop_rows` [top, bottom) (Stanford-2D-3D: the thesis's rows 160-863) is cropped to
them after the transform, which needs the whole sphere.
"""
from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from components.config import load_params
from components.data import panorama
from components.data.dataset import DatasetInfo
from components.data.shards import iterate_samples, shard_paths, write_shards
from components.data.sources import SPLITS, view_seed
from components.data.synth.render import CLASS_NAMES
from components.data.synth.panorama import render_panorama
from components.errors import PixelpredError
from components.storage.local import atomic_directory

log = logging.getLogger("pixelpred.panoramas")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="shards directory of the transformed panoramas")
    parser.add_argument("--shards", type=Path, help="prepared panoramas with global normals (default: render synth)")
    parser.add_argument("--overrides", type=Path, help='JSON {key: {"column": u, "row": v}}: clicked canonical points')
    parser.add_argument("--preview", type=Path, help="PNG of rgb | global | local normals for the first test panoramas")


def synth_panoramas(seed: int, height: int, split: str, count: int) -> Iterator[tuple[str, dict]]:
    for index in range(count):
        sample = render_panorama(view_seed(seed, split, index), height, 2 * height, scene="indoor")
        yield f"pano_{split}_{index:06d}", sample


def transformed(samples: Iterator[tuple[str, dict]], class_names: tuple[str, ...], overrides: dict, counts: Counter,
                split: str, previews: list) -> Iterator[tuple[str, dict]]:
    """Samples with global normals -> the same samples with local normals and their canonical point in meta."""
    for key, sample in samples:
        wall = sample["seg"] == class_names.index("wall") if "seg" in sample and "wall" in class_names else None
        try:
            canonical = panorama.choose_canonical_point(key, sample["depth"], sample["normal"], overrides, wall)
        except PixelpredError as err:
            log.warning("skipping %s: %s", key, err)
            counts[f"{split}.skipped"] += 1
            continue
        local = panorama.global_to_local(sample["normal"], canonical)
        if split == "test" and len(previews) < 3:
            previews.append((sample["rgb"], sample["normal"], local))
        counts[split] += 1
        counts[canonical.source] += 1
        out = {**sample, "normal": local}
        if rows := sample["meta"].get("crop_rows"):
            out = {name: value[rows[0]:rows[1]] if isinstance(value, np.ndarray) else value for name, value in out.items()}
        yield key, {**out, "meta": {**sample["meta"], "normal_frame": "column camera",
                                    "canonical_point": asdict(canonical)}}


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    config = params.panorama
    overrides = panorama.read_overrides(args.overrides) if args.overrides else {}
    counts: Counter = Counter()
    previews: list = []
    source, class_names = "synth_panorama", CLASS_NAMES
    if args.shards:
        info = DatasetInfo.read(args.shards)
        source, class_names = info.source, info.class_names
    with atomic_directory(args.out) as staging:
        for split in SPLITS:
            if args.shards:
                raw = ((s["__key__"], s) for s in iterate_samples(shard_paths(args.shards, split)))
            else:
                raw = synth_panoramas(config.seed, config.height, split, getattr(config.splits, split))
            raw = tqdm(raw, desc=f"panoramas {split}", unit="pano", disable=None)
            write_shards(transformed(raw, class_names, overrides, counts, split, previews), staging, split,
                         config.samples_per_shard)
            log.info("%s: %d panoramas, %d skipped (no canonical point)", split, counts[split], counts[f"{split}.skipped"])
        DatasetInfo(source=source, class_names=class_names, split_sizes={s: counts[s] for s in SPLITS},
                    skipped={s: counts[f"{s}.skipped"] for s in SPLITS}).write(staging)
    log.info("canonical points: %d automatic, %d from %s", counts["auto"], counts["manual"], args.overrides or "no file")
    if args.preview and previews:
        args.preview.parent.mkdir(parents=True, exist_ok=True)
        rgb, global_normals, local = (np.concatenate(parts, axis=0) for parts in zip(*previews))
        panorama.save_comparison_png(args.preview, rgb, global_normals, local)
