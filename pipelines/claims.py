"""claims: mean ± std over seeds for each variant of each thesis claim, whether each claim holds, per-quality
curves (Fig. 6.4) for the claims that report JPEG qualities, curves over alpha (Fig. 7.2) for the claims that vary
it, and the claims page with its charts."""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from components.report.claims import alpha_curves, alpha_plot_tables, plot_tables, quality_curves, read_runs, summarize_claims
from components.report.claims_page import render_claims_page
from components.report.figures import claim_figures
from components.storage.local import atomic_directory, write_csv

log = logging.getLogger("pixelpred.claims")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=Path, required=True, help="directory of <claim>-<variant>-s<seed>/metrics.json")
    parser.add_argument("--out", type=Path, required=True, help="claims.json to write")
    parser.add_argument("--plots", type=Path, required=True,
                        help="directory for the DVC plots' tables: <claim>_<psnr|ssim>_by_quality.csv, <claim>_<metric>_by_alpha.csv")
    parser.add_argument("--page", type=Path, required=True, help="the claims page (Markdown) to write")
    parser.add_argument("--figures", type=Path, required=True, help="directory for the page's charts (<claim>/*.png)")
    parser.add_argument("--report", type=Path, help="the main report page to link to (written by `pixelpred report`)")


def main(args: argparse.Namespace) -> None:
    claims = summarize_claims(read_runs(args.runs))
    curves, alphas = quality_curves(claims), alpha_curves(claims)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(claims, indent=2, sort_keys=True) + "\n")
    with atomic_directory(args.plots) as staging:
        for name, rows in (plot_tables(curves) | alpha_plot_tables(claims, alphas)).items():
            write_csv(staging / f"{name}.csv", rows)
    with atomic_directory(args.figures) as staging:
        figures = {name: claim_figures(name, result, curves.get(name, []), alphas.get(name, []), staging)
                   for name, result in claims.items()}
    page_dir = args.page.parent
    report_link = Path(os.path.relpath(args.report, page_dir)).as_posix() if args.report else None
    page = render_claims_page(claims, figures, Path(os.path.relpath(args.figures, page_dir)).as_posix(), report_link)
    page_dir.mkdir(parents=True, exist_ok=True)
    args.page.write_text(page)
    for name, claim in claims.items():
        log.info("%s: %s (%s)", name, claim["status"], claim["verdict"])
