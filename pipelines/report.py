"""report: one Markdown page with every model's metrics, trivial baselines, the thesis's numbers and the
model's figures (prediction panel, training curve, PR / quality curves, filter views), written beside it."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from components.config import load_params
from components.errors import PixelpredError
from components.report.figures import model_figures
from components.report.render import read_evaluations, render_report
from components.storage.local import atomic_directory

log = logging.getLogger("pixelpred.report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--evaluations", type=Path, required=True, help="directory of <model>/metrics.json and plots/")
    parser.add_argument("--training", type=Path, required=True, help="directory of <model>/history.csv")
    parser.add_argument("--out", type=Path, required=True, help="Markdown file to write")
    parser.add_argument("--figures", type=Path, required=True, help="directory for the page's images (<model>/*.png)")
    parser.add_argument("--claims-page", type=Path, help="the claims page to link to (written by `pixelpred claims`)")


def main(args: argparse.Namespace) -> None:
    models = load_params(args.params).models
    found = read_evaluations(args.evaluations)
    # Only the main job's models, in params order: a model dropped from params.yaml leaves its old outputs behind.
    evaluations = {name: found[name] for name in models if name in found}
    if not evaluations:
        raise PixelpredError(f"no evaluations of the models in params.yaml under {args.evaluations} "
                             "(run the evaluate stages first)")
    if stale := sorted(set(found) - set(models)):
        log.info("left out evaluations of models not in params.yaml: %s", ", ".join(stale))
    with atomic_directory(args.figures) as staging:
        figures = {name: model_figures(name, args.evaluations / name, args.training / name / "history.csv", staging)
                   for name in evaluations}
    page_dir = args.out.parent
    claims_link = Path(os.path.relpath(args.claims_page, page_dir)).as_posix() if args.claims_page else None
    page = render_report(evaluations, figures, Path(os.path.relpath(args.figures, page_dir)).as_posix(), claims_link)
    page_dir.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page)
    log.info("report for %d models written to %s (figures in %s)", len(evaluations), args.out, args.figures)
