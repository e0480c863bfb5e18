"""Training from S3 shards vs local shards on this machine: the decode stream and real training runs.

    python -m benchmarks.s3_throughput [--train 256] [--steps 40] [--models ...] [--out FILE.json]

Renders synth shards at the main job's image size (params.yaml `data`, fewer samples), publishes them to a moto
S3 server on 127.0.0.1 and measures, local and S3 alike:
  stream    decoded samples/s of one rank's training stream (iterate_samples: fetch, untar, decode)
  training  train/samples_per_s of `steps` steps of each default shard model (params.yaml settings), the number
            the MLflow runs show; the goal is S3 within 10 % of local.
moto serves from this machine's memory: this measures the client side (boto3 streaming, no download), not a
real object store's latency or bandwidth.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from mlflow import MlflowClient

from benchmarks.machine_speed import cpu_model
from components.config import StorageConfig, from_dict, Params
from components.data.shards import CorruptCounter, iterate_samples, shard_paths
from components.storage.publish import publish
from components.train.launch import train_and_register
from tests.conftest import S3_CREDENTIALS
from tests.services import render_shards, start_moto, stop_service

REPO = Path(__file__).resolve().parents[1]
MODELS = ("seg_baseline", "depth_baseline", "normal_baseline")


def stream_rate(shards, storage: StorageConfig, samples: int) -> float:
    """Samples/s of a resampled training stream, as one rank reads it."""
    stream = iter(iterate_samples(list(shard_paths(shards, "train", storage)), shuffle_buffer=64, seed=0,
                                  resampled=True, counter=CorruptCounter(), storage=storage))
    next(stream)
    tic = time.perf_counter()
    for _ in range(samples):
        next(stream)
    return samples / (time.perf_counter() - tic)


def training_rate(model: str, raw: dict, shards, root: Path) -> float:
    """Median train/samples_per_s over a short run of `model` reading `shards`."""
    params = dataclasses.replace(from_dict(Params, raw, "params"), root=root)
    outcome = train_and_register(model, params, shards)
    history = MlflowClient().get_metric_history(outcome.pointer.run_id, "train/samples_per_s")
    return statistics.median(m.value for m in history[1:] or history)      # the first window holds start-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=256, help="training samples rendered")
    parser.add_argument("--steps", type=int, default=40, help="training steps per run")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "s3_throughput_cpu.json")
    args = parser.parse_args()
    os.environ.update({"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true",
                       **S3_CREDENTIALS})
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    raw = copy.deepcopy(base)
    raw["data"]["splits"] = {"train": args.train, "val": 16, "test": 16}
    raw["data"]["samples_per_shard"] = 64
    raw["tracking"]["system_metrics"] = False
    for model in args.models:
        raw["models"][model]["train"].update(steps=args.steps, log_every=5, checkpoint_every=args.steps)
    result = {"cpu_model": cpu_model(), "cores": os.cpu_count(), "image": [raw["data"]["height"], raw["data"]["width"]],
              "train_samples": args.train, "steps": args.steps}
    with tempfile.TemporaryDirectory(prefix="pps3-", dir="/tmp") as tmp:
        root = Path(tmp)
        os.environ["RAY_TMPDIR"] = str(root / "ray")
        (root / "params.yaml").write_text(yaml.safe_dump(raw))
        shards = render_shards(root / "params.yaml", root)
        moto, endpoint = start_moto()
        try:
            import boto3
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
            storage = StorageConfig(endpoint_url=endpoint, publish="s3://bench/v1")
            remote = publish(shards, storage, root / "shards.published.json")
            raw["storage"] = {"endpoint_url": endpoint}
            sources = {"local": shards, "s3": remote}
            result["stream_samples_per_s"] = {name: round(max(stream_rate(where, storage, 300) for _ in range(2)), 1)
                                              for name, where in sources.items()}
            result["training_samples_per_s"] = {}
            for model in args.models:
                rates = {name: round(training_rate(model, raw, where, root), 2) for name, where in sources.items()}
                rates["s3_vs_local"] = round(rates["s3"] / rates["local"], 3)
                result["training_samples_per_s"][model] = rates
                print(model, rates, file=sys.stderr)
        finally:
            stop_service(moto)
    ratios = [r["s3_vs_local"] for r in result["training_samples_per_s"].values()]
    result["goal_within_10_percent"] = all(r >= 0.9 for r in ratios)
    text = json.dumps(result, indent=2)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
