"""cluster: run a command (e.g. `dvc repro`) with one local Ray cluster shared by all its training stages.

Each train stage otherwise starts and stops a Ray of its own (~12 s a stage on a 2-core machine). Here
the cluster starts once, the command's stages attach to it through RAY_ADDRESS (and the auth mode Ray
chose), and it stops when the command ends. With `ray.address` or $RAY_ADDRESS set, stages already attach
to that cluster, and the command simply runs.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys

import ray

from components.config import load_params
from components.errors import PixelpredError
from components.train.launch import ray_session

log = logging.getLogger("pixelpred.cluster")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after `--`")


def main(args: argparse.Namespace) -> None:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise PixelpredError("no command given (usage: pixelpred cluster -- dvc repro)")
    params = load_params(args.params)
    if params.ray.address or os.environ.get("RAY_ADDRESS"):
        sys.exit(subprocess.call(command))
    with ray_session(params.ray, params.root):
        env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address,
               "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}   # what ray.init enabled for this cluster
        log.info("local Ray cluster at %s for: %s", env["RAY_ADDRESS"], " ".join(command))
        code = subprocess.call(command, env=env)
    sys.exit(code)
