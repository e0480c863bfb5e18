"""flow: the optical flow between any two images from a registered video model, as a Middlebury .flo file.

`pixelpred flow a.png b.png out.flo` (default model mgpff@champion) writes out.flo, the flow of a's pixels into b
(a(p) ~ b(p + flow(p)), pixels), and out.png, the flow in the project's colour wheel. Large images run tile by
tile like `restore`.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from components.config import load_params
from components.data.flo import write_flo
from components.data.image_io import read_rgb
from components.errors import PixelpredError
from components.models import list_models, model_task
from components.tasks.colorize import flow_to_color
from components.track.registry import load_registered, registry_uri
from components.track.tracking import connect
from components.tools.flow import estimate_flow

log = logging.getLogger("pixelpred.flow")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("first", type=Path, help="the frame whose pixels the flow moves (any format Pillow reads)")
    parser.add_argument("second", type=Path, help="the frame they move into (same size)")
    parser.add_argument("output", type=Path, help="the flow, a .flo file; its colour map is written beside it (.png)")
    parser.add_argument("--model", default="mgpff@champion", help="registered video model: NAME@ALIAS or NAME/VERSION")
    parser.add_argument("--tile", type=int, default=256, help="tile size for large images (default 256)")
    parser.add_argument("--margin", type=int, default=64, help="context around each tile (default 64)")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if args.output.suffix != ".flo":
        raise PixelpredError(f"output {args.output} must be a .flo file")
    first, second = read_rgb(args.first), read_rgb(args.second)
    if first.shape != second.shape:
        raise PixelpredError(f"{args.first} is {first.shape[1]} x {first.shape[0]} but {args.second} is "
                             f"{second.shape[1]} x {second.shape[0]}: the frames must have one size")
    registry_uri(args.model)                       # a malformed name fails before anything connects
    name = args.model.removeprefix("models:/").split("@")[0].split("/")[0]
    if name in list_models() and model_task(name) != "video":
        raise PixelpredError(f"model '{name}' is a {model_task(name)} model, not a video model")
    connect(params.tracking, params.root)
    flow = estimate_flow(load_registered(args.model), first, second, args.tile, args.margin)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_flo(args.output, flow)
    Image.fromarray(flow_to_color(flow)).save(args.output.with_suffix(".png"))
    log.info("flow of %s into %s (%d x %d) with %s -> %s (mean length %.2f px)", args.first, args.second,
             first.shape[1], first.shape[0], args.model, args.output, float(np.hypot(*flow.transpose(2, 0, 1)).mean()))
