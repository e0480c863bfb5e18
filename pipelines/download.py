"""download: obtain a dataset's native files into its raw directory.

The embedded dataset (`data.source: synth`) is rendered; a registry dataset (`--dataset NAME`, see
components/data/registry.yaml) is fetched, verified against its checksums and lock file, and unpacked.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from components.config import load_params
from components.data import registry
from components.data.sources import SynthSource
from components.storage.local import atomic_directory

log = logging.getLogger("pixelpred.download")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="raw data directory")
    parser.add_argument("--dataset", help="registry dataset name (default: data.source)")
    parser.add_argument("--lock", type=Path,
                        help="observed checksums of the dataset's files (default: datasets/locks/<dataset>.json)")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    name = args.dataset or params.data.source
    if name == SynthSource.name:
        with atomic_directory(args.out) as staging:
            SynthSource().generate(staging, params.data)
    else:
        lock = args.lock or params.root / "datasets" / "locks" / f"{name}.json"
        registry.fetch(registry.entry(name), args.out, lock, params.download, params.storage)
    log.info("%s obtained into %s", name, args.out)
