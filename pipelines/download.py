"""download: obtain the dataset named in params (`data.source`) into its raw directory."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from components.config import load_params
from components.data.sources import get_source
from components.storage.local import atomic_directory

log = logging.getLogger("pixelpred.download")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="raw data directory")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    source = get_source(params.data.source)
    with atomic_directory(args.out) as staging:
        source.obtain(staging, params.data)
    log.info("%s obtained into %s", source.name, args.out)
