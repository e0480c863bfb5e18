"""degrade: the restoration dataset: clean train tiles and val renders, fixed degraded test sets per task."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from components.config import load_params
from components.data.dataset import DatasetInfo
from components.data.restoration_set import SPLITS, check_inputs, split_samples
from components.data.shards import CorruptCounter, read_manifest, write_shards
from components.storage.local import atomic_directory
from components.storage.publish import publish

log = logging.getLogger("pixelpred.degrade")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--synth", type=Path, required=True, help="prepared synth shards (prepare's output)")
    parser.add_argument("--out", type=Path, required=True, help="restoration dataset directory")
    parser.add_argument("--published", type=Path,
                        help="pointer file: where storage.publish put the shards in S3, or that it is unset "
                             "(default: <out>.published.json)")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    config = params.degrade
    check_inputs(config, args.synth)
    sizes, skipped = {}, {}
    with atomic_directory(args.out) as staging:
        for split in SPLITS:
            start, counter = time.perf_counter(), CorruptCounter()
            write_shards(split_samples(split, config, args.synth, counter), staging, split, config.samples_per_shard)
            sizes[split], skipped[split] = read_manifest(staging, split).num_rows, counter.count
            log.info("%s: %d samples in %.1f s, %d corrupt synth renders skipped",
                     split, sizes[split], time.perf_counter() - start, counter.count)
        DatasetInfo(source="photos+synth", class_names=(), split_sizes=sizes, skipped=skipped).write(staging)
    publish(args.out, params.storage, args.published or args.out.with_name(args.out.name + ".published.json"))
