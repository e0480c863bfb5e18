"""evaluate: score the registered model version named by train's pointer on the test split."""
from __future__ import annotations

import argparse
import json
import logging

from PIL import Image

from components.config import load_params
from components.data.dataset import DatasetInfo
from components.errors import PixelpredError
from components.storage.local import write_csv
from components.storage.location import check_writable, output_directory, parse_location
from components.track.registry import ModelPointer
from components.train.evaluate import evaluate_registered

log = logging.getLogger("pixelpred.evaluate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model name (must match the pointer)")
    parser.add_argument("--pointer", type=parse_location, required=True,
                        help="model.json written by the train stage (a path or an s3:// URI)")
    parser.add_argument("--shards", type=parse_location, required=True,
                        help="prepared shards: a directory or the s3://bucket/prefix they were published to")
    parser.add_argument("--out", type=parse_location, required=True,
                        help="directory or s3://bucket/prefix: gets metrics.json and plots/ (panel.png, plot tables)")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    check_writable(args.out, params.storage)
    pointer = ModelPointer.read(args.pointer, params.storage)
    if pointer.model != args.model:
        raise PixelpredError(f"pointer {args.pointer} is a '{pointer.model}' model, not '{args.model}'")
    outcome = evaluate_registered(pointer, params, args.shards)
    with output_directory(args.out, params.storage, last="metrics.json") as staging:
        # The dataset the test split comes from labels every number in the report.
        summary = {"task": outcome.task, "dataset": DatasetInfo.read(args.shards, params.storage).source,
                   "model": outcome.metrics, "trivial": {"name": outcome.trivial_name, **outcome.trivial_metrics},
                   "shifted": outcome.shifted,
                   "registered": {"name": pointer.name, "version": pointer.version, "run_id": pointer.run_id},
                   "evaluation_run_id": outcome.run_id, "skipped_samples": outcome.skipped_samples,
                   "model_size": outcome.model_size,
                   **{f"time/{k}": v for k, v in outcome.timings.items()}}
        (staging / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        (staging / "plots").mkdir()
        Image.fromarray(outcome.panel).save(staging / "plots" / "panel.png")
        for name, image in outcome.views.items():
            Image.fromarray(image).save(staging / "plots" / f"{name}.png")
        for name, rows in outcome.plots.items():
            write_csv(staging / "plots" / f"{name}.csv", rows)
