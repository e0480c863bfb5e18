"""prepare: convert raw native files into WebDataset shards + manifest.parquet per split."""
from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

from components.config import load_params
from components.data.dataset import DatasetInfo
from components.data.shards import write_shards
from components.data.sources import get_source
from components.storage.local import atomic_directory
from components.storage.publish import publish

log = logging.getLogger("pixelpred.prepare")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", type=Path, required=True, help="raw data directory (download's output)")
    parser.add_argument("--out", type=Path, required=True, help="shards directory")
    parser.add_argument("--dataset", help="registry dataset name (default: data.source)")
    parser.add_argument("--published", type=Path,
                        help="pointer file: where storage.publish put the shards in S3, or that it is unset "
                             "(default: <out>.published.json)")


def readable(samples: Iterable[tuple[str, object]], split: str, counts: Counter) -> Iterator[tuple[str, dict]]:
    """Drop (and count) samples the source could not read; a corrupt file never stops the stage."""
    for key, sample in samples:
        if isinstance(sample, Exception):
            log.warning("skipping corrupt raw sample %s/%s: %s", split, key, sample)
            counts[f"{split}.skipped"] += 1
            continue
        counts[split] += 1
        yield key, sample


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    source = get_source(args.dataset or params.data.source)
    counts: Counter = Counter()
    with atomic_directory(args.out) as staging:
        for split in source.splits:
            write_shards(readable(source.samples(args.raw, split), split, counts), staging, split,
                         params.data.samples_per_shard)
            log.info("%s: %d samples sharded, %d skipped", split, counts[split], counts[f"{split}.skipped"])
        DatasetInfo(source=source.name, class_names=source.class_names,
                    split_sizes={s: counts[s] for s in source.splits},
                    skipped={s: counts[f"{s}.skipped"] for s in source.splits}).write(staging)
    publish(args.out, params.storage, args.published or args.out.with_name(args.out.name + ".published.json"))
