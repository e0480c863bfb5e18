"""claims: mean ± std over seeds for each variant of each thesis claim, whether each claim holds,
and per-quality curves (Fig. 6.4) for the claims that report JPEG qualities."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from components.report.claims import quality_curves, read_runs, summarize_claims
from components.storage.local import write_csv

log = logging.getLogger("pixelpred.claims")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=Path, required=True, help="directory of <claim>-<variant>-s<seed>/metrics.json")
    parser.add_argument("--out", type=Path, required=True, help="claims.json to write")
    parser.add_argument("--plots", type=Path, required=True, help="directory for <claim>_by_quality.csv")


def main(args: argparse.Namespace) -> None:
    claims = summarize_claims(read_runs(args.runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(claims, indent=2, sort_keys=True) + "\n")
    args.plots.mkdir(parents=True, exist_ok=True)
    for name, rows in quality_curves(claims).items():
        write_csv(args.plots / f"{name}_by_quality.csv", rows)
    for name, claim in claims.items():
        log.info("%s holds=%s (%s)", name, claim["holds"], claim["verdict"])
