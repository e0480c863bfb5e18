"""ui: the MLflow UI on the project's tracking store, opened at the project's experiment."""
from __future__ import annotations

import argparse
import logging
import os
import shutil

from components.config import load_params
from components.errors import PixelpredError
from components.track.tracking import connect, resolve_tracking_uri

log = logging.getLogger("pixelpred.ui")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=5000)


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    experiment_id = connect(params.tracking, params.root)
    uri = resolve_tracking_uri(params.tracking, params.root)
    if uri.startswith(("http://", "https://")):
        print(f"runs of '{params.tracking.experiment}': {uri.rstrip('/')}/#/experiments/{experiment_id}/runs")
        return
    mlflow = shutil.which("mlflow")
    if mlflow is None:
        raise PixelpredError("the mlflow command is not on PATH (run inside the project environment)")
    print(f"runs of '{params.tracking.experiment}': http://{args.host}:{args.port}/#/experiments/{experiment_id}/runs",
          flush=True)
    os.execv(mlflow, [mlflow, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)])
