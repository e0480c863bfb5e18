"""evaluate: score the registered model version named by train's pointer on the test split."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from PIL import Image

from components.config import load_params
from components.errors import PixelpredError
from components.storage.local import atomic_directory, write_csv
from components.storage.location import parse_location
from components.track.registry import ModelPointer
from components.train.evaluate import evaluate_registered

log = logging.getLogger("pixelpred.evaluate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model name (must match the pointer)")
    parser.add_argument("--pointer", type=Path, required=True, help="model.json written by the train stage")
    parser.add_argument("--shards", type=parse_location, required=True,
                        help="prepared shards: a directory or the s3://bucket/prefix they were published to")
    parser.add_argument("--out", type=Path, required=True, help="writes metrics.json and plots/ (panel.png, plot tables)")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    pointer = ModelPointer.read(args.pointer)
    if pointer.model != args.model:
        raise PixelpredError(f"pointer {args.pointer} is a '{pointer.model}' model, not '{args.model}'")
    outcome = evaluate_registered(pointer, params, args.shards)
    with atomic_directory(args.out) as staging:
        summary = {"task": outcome.task, "model": outcome.metrics, "trivial": {"name": outcome.trivial_name, **outcome.trivial_metrics},
                   "shifted": outcome.shifted,
                   "registered": {"name": pointer.name, "version": pointer.version, "run_id": pointer.run_id},
                   "evaluation_run_id": outcome.run_id, "skipped_samples": outcome.skipped_samples,
                   **{f"time/{k}": v for k, v in outcome.timings.items()}}
        (staging / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        (staging / "plots").mkdir()
        Image.fromarray(outcome.panel).save(staging / "plots" / "panel.png")
        for name, image in outcome.views.items():
            Image.fromarray(image).save(staging / "plots" / f"{name}.png")
        for name, rows in outcome.plots.items():
            write_csv(staging / "plots" / f"{name}.csv", rows)
