"""claims: mean ± std over seeds for each loss of each thesis claim, and whether each claim holds."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from components.report.claims import read_runs, summarize_claims

log = logging.getLogger("pixelpred.claims")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=Path, required=True, help="directory of <claim>-<loss>-s<seed>/metrics.json")
    parser.add_argument("--out", type=Path, required=True, help="claims.json to write")


def main(args: argparse.Namespace) -> None:
    claims = summarize_claims(read_runs(args.runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(claims, indent=2, sort_keys=True) + "\n")
    for name, claim in claims.items():
        log.info("%s holds=%s (%s)", name, claim["holds"], claim["verdict"])
