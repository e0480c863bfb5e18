"""restore: run a registered restoration model on any image file; the filter-flow map is saved beside it.

`pixelpred restore --model pff_deblur@champion in.png out.png` writes out.png and, for PFF models,
out.flow.png (the expected offset under each pixel's filter, colour-coded as optical flow).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from PIL import Image

from components.config import load_params
from components.data.image_io import read_rgb
from components.tasks.colorize import flow_to_color
from components.track.registry import load_registered
from components.track.tracking import connect
from components.train.inference import restore_image

log = logging.getLogger("pixelpred.restore")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="registered model: NAME@ALIAS or NAME/VERSION")
    parser.add_argument("input", type=Path, help="image to restore (any format Pillow reads)")
    parser.add_argument("output", type=Path, help="restored image (PNG recommended)")
    parser.add_argument("--tile", type=int, default=512, help="tile size for large images (default 512)")
    parser.add_argument("--margin", type=int, default=64, help="context around each tile (default 64)")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    image = read_rgb(args.input)
    connect(params.tracking, params.root)
    model = load_registered(args.model)
    restored, flow = restore_image(model, image, args.tile, args.margin)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(restored).save(args.output)
    log.info("restored %s (%d x %d) with %s -> %s", args.input, image.shape[1], image.shape[0], args.model, args.output)
    if flow is not None:
        flow_path = args.output.with_suffix(".flow.png")
        Image.fromarray(flow_to_color(flow)).save(flow_path)
        log.info("filter-flow map -> %s", flow_path)
