"""edit: photo editing by reconstruction (§7.3.4) with a registered mgPFF model, beside alpha and Poisson blending.

`pixelpred edit target.png source.png mask.png out.png --at X Y` pastes the source's masked pixels into the
target with the source's top-left corner at (X, Y) (default 0 0), and writes out.png, mgPFF's result (the pasted
image rebuilt from the target's own pixels inside the mask), and out.panel.png: target, pasted, alpha blending,
Poisson blending, mgPFF, left to right. The mask is any image of the source's size; non-zero marks the patch.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from PIL import Image

from components.config import load_params
from components.data.image_io import read_rgb
from components.tools.editing import edit
from components.errors import PixelpredError
from components.tasks.colorize import panel
from components.track.registry import load_registered, registry_uri
from components.track.tracking import connect

log = logging.getLogger("pixelpred.edit")
METHODS = ("pasted", "alpha", "poisson", "mgpff")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", type=Path, help="the image to edit")
    parser.add_argument("source", type=Path, help="the image the patch comes from")
    parser.add_argument("mask", type=Path, help="the patch: non-zero pixels of an image of the source's size")
    parser.add_argument("output", type=Path, help="mgPFF's result (PNG); the comparison panel goes beside it")
    parser.add_argument("--at", type=int, nargs=2, default=(0, 0), metavar=("X", "Y"),
                        help="where the source's top-left corner lands in the target (default 0 0)")
    parser.add_argument("--model", default="mgpff@champion", help="registered mgPFF model: NAME@ALIAS or NAME/VERSION")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    target, source = read_rgb(args.target), read_rgb(args.source)
    mask = read_rgb(args.mask).any(axis=-1)
    registry_uri(args.model)
    connect(params.tracking, params.root)
    model = load_registered(args.model)
    if not hasattr(model, "filters"):
        raise PixelpredError(f"{args.model} is not a filter-flow video model (mgpff)")
    results = edit(model, target, source, mask, tuple(args.at))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(results["mgpff"]).save(args.output)
    panel_path = args.output.with_suffix(".panel.png")
    Image.fromarray(panel([[target, *(results[m] for m in METHODS)]])).save(panel_path)
    log.info("edited %s with a patch of %s (%d px) at %s using %s -> %s; target | %s -> %s", args.target,
             args.source, int(mask.sum()), tuple(args.at), args.model, args.output, " | ".join(METHODS), panel_path)
