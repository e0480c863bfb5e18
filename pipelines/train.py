"""train: train one registered model with Ray Train, track it in MLflow, register the result."""
from __future__ import annotations

import argparse
import json
import logging

from components.config import load_params
from components.storage.location import check_writable, output_directory, parse_location
from components.train.checkpoint import save_checkpoint
from components.train.launch import train_and_register

log = logging.getLogger("pixelpred.train")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model name (a section under `models` in params.yaml)")
    parser.add_argument("--shards", type=parse_location, required=True,
                        help="prepared shards: a directory or the s3://bucket/prefix they were published to")
    parser.add_argument("--out", type=parse_location, required=True,
                        help="directory or s3://bucket/prefix: gets model.json (registry pointer), checkpoint.pt, "
                             "metrics.json and history.csv")
    parser.add_argument("--inject-failure-at-step", type=int, default=0,
                        help="testing aid: rank 0 dies once at this step, Ray restarts from the last checkpoint")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    check_writable(args.out, params.storage)
    outcome = train_and_register(args.model, params, args.shards, inject_failure_at_step=args.inject_failure_at_step)
    with output_directory(args.out, params.storage, last="model.json") as staging:
        outcome.pointer.write(staging / "model.json")
        save_checkpoint(staging / "checkpoint.pt", outcome.model, outcome.model_config)
        metrics = {**outcome.metrics, **{f"time/{k}": round(v, 2) for k, v in outcome.timings.items()}}
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        (staging / "history.csv").write_text("step,loss\n" + "".join(f"{r['step']},{r['loss']:.6g}\n" for r in outcome.history))
    log.info("%s: %s", args.model, ", ".join(f"{k}={v:.3g}" for k, v in sorted(metrics.items())))
