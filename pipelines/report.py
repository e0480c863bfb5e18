"""report: one Markdown page with every model's metrics, trivial baselines and the thesis's numbers."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from components.errors import PixelpredError
from components.report.render import read_evaluations, render_report

log = logging.getLogger("pixelpred.report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evaluations", type=Path, required=True, help="directory of <model>/metrics.json")
    parser.add_argument("--claims", type=Path, help="claims.json from the experiments pipeline (optional)")
    parser.add_argument("--out", type=Path, required=True, help="Markdown file to write")


def main(args: argparse.Namespace) -> None:
    evaluations = read_evaluations(args.evaluations)
    if not evaluations:
        raise PixelpredError(f"no evaluations under {args.evaluations} (run the evaluate stages first)")
    claims = json.loads(args.claims.read_text()) if args.claims else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_report(evaluations, claims))
    log.info("report for %d models written to %s", len(evaluations), args.out)
