"""degrade: the restoration dataset: clean train tiles and val images, fixed degraded test sets per task."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from components.config import load_params
from components.data.dataset import DatasetInfo
from components.data.restoration_set import (RestorationInputs, check_inputs, output_splits, source_name,
                                             split_samples)
from components.data.shards import CorruptCounter, read_manifest, write_shards
from components.storage.local import atomic_directory
from components.storage.publish import publish

log = logging.getLogger("pixelpred.degrade")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--synth", type=Path,
                        help="prepared synth shards (prepare's output): the train and val renders; "
                             "needed unless --train-images is given")
    parser.add_argument("--train-images", type=Path, nargs="+", default=(),
                        help="prepared datasets (e.g. data/div2k data/bsds500): train tiles from their train splits, "
                             "val images from their val splits, instead of degrade.train_photos and the synth renders")
    parser.add_argument("--test-images", type=Path,
                        help="a prepared dataset (e.g. data/set5): every test split from its test split, instead of "
                             "degrade.test_photos; one whose samples bring their own lq (kohler) gives deblur only")
    parser.add_argument("--out", type=Path, required=True, help="restoration dataset directory")
    parser.add_argument("--published", type=Path,
                        help="pointer file: where storage.publish put the shards in S3, or that it is unset "
                             "(default: <out>.published.json)")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    config = params.degrade
    inputs = RestorationInputs(synth=args.synth, train_images=tuple(args.train_images), test_images=args.test_images)
    check_inputs(config, inputs)
    sizes, skipped = {}, {}
    with atomic_directory(args.out) as staging:
        for split in output_splits(inputs):
            start, counter = time.perf_counter(), CorruptCounter()
            write_shards(split_samples(split, config, inputs, counter), staging, split, config.samples_per_shard)
            sizes[split], skipped[split] = read_manifest(staging, split).num_rows, counter.count
            log.info("%s: %d samples in %.1f s, %d corrupt input samples skipped",
                     split, sizes[split], time.perf_counter() - start, counter.count)
        DatasetInfo(source=source_name(inputs), class_names=(), split_sizes=sizes, skipped=skipped).write(staging)
    publish(args.out, params.storage, args.published or args.out.with_name(args.out.name + ".published.json"))
