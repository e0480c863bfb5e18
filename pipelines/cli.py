"""`pixelpred <stage> ...`: one subcommand per pipeline stage; bad input -> one error line, exit 2."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from components.errors import PixelpredError

STAGES = ("download", "prepare", "train", "evaluate", "report")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    parser = argparse.ArgumentParser(prog="pixelpred", description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    commands = parser.add_subparsers(dest="stage", required=True)
    modules = {}
    for stage in STAGES:
        module = __import__(f"pipelines.{stage}", fromlist=["main"])
        module.add_arguments(commands.add_parser(stage, help=module.__doc__.splitlines()[0]))
        modules[stage] = module
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        modules[args.stage].main(args)
    except PixelpredError as err:
        print(f"pixelpred {args.stage}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
