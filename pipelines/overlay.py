"""overlay: print the `dvc exp run -S` arguments that apply params overlays to the first params file.

`pixelpred --params params.yaml --params datasets/params/nyuv2.yaml overlay` validates the merged params
(as any stage would) and prints one `-S key=value` pair per overlaid value, so `dvc exp run $(...)` runs
that configuration as a DVC experiment: `make real OVERLAY=datasets/params/nyuv2.yaml` does exactly this.
"""
from __future__ import annotations

import argparse

from pathlib import Path

from components.config import ConfigError, load_params, overlay, read_params_file, set_param_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> None:
    if len(args.params) < 2:
        raise ConfigError("give the params file and at least one overlay: --params params.yaml --params OVERLAY")
    load_params(args.params)                      # the merged params must be valid before DVC sees them
    base, *layers = (read_params_file(Path(path)) for path in args.params)
    top: dict = {}
    for layer in layers:
        top = overlay(top, layer)
    print(" ".join(f"-S {arg}" for arg in set_param_args(base, top)))
