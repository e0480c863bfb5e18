"""`pixelpred [--params FILE]... <stage> ...`: one subcommand per pipeline stage.

Bad input (unknown names, invalid params, missing inputs, unreachable services) ends with one
`pixelpred <stage>: error: ...` line and exit code 2. Only the chosen stage's module is imported,
so light stages do not pay for Ray and MLflow imports.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from components.errors import PixelpredError

STAGES = ("download", "prepare", "degrade", "train", "evaluate", "report", "ablate", "claims", "restore", "ui", "cluster",
          "overlay", "panoramas", "video", "flow", "edit")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    parser = argparse.ArgumentParser(prog="pixelpred", description=__doc__, add_help=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", action="append",
                        help="params file (default: params.yaml); repeat to overlay files, later keys winning")
    parser.add_argument("stage", nargs="?", choices=STAGES, help="pipeline stage")
    known, rest = parser.parse_known_args(argv)
    if known.stage is None:
        parser.print_help()
        return 0 if {"-h", "--help"} & set(rest) else 2
    module = importlib.import_module(f"pipelines.{known.stage}")
    stage_parser = argparse.ArgumentParser(prog=f"pixelpred {known.stage}", description=module.__doc__)
    module.add_arguments(stage_parser)
    args = stage_parser.parse_args(rest)
    args.params = known.params or ["params.yaml"]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        module.main(args)
    except PixelpredError as err:
        print(f"pixelpred {known.stage}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
