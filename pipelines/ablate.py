"""ablate: train + evaluate one thesis-claim variant (a model with another loss) for one seed."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from components.config import load_params
from components.errors import PixelpredError
from components.report.thesis import CLAIMS
from components.storage.local import atomic_directory
from components.train.evaluate import evaluate_registered
from components.train.launch import train_and_register

log = logging.getLogger("pixelpred.ablate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("variant", help="a name under experiments.variants in params.yaml")
    parser.add_argument("--seed", type=int, required=True, help="training seed (weights, data order)")
    parser.add_argument("--shards", type=Path, required=True, help="prepared shards directory")
    parser.add_argument("--out", type=Path, required=True, help="writes metrics.json")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    variant = params.experiments.variant(args.variant)
    if variant.claim not in CLAIMS:
        raise PixelpredError(f"variant '{args.variant}' names unknown claim '{variant.claim}' (known: {', '.join(CLAIMS)})")
    base = params.model(variant.model)
    model = dataclasses.replace(base, loss=dataclasses.replace(base.loss, kind=variant.loss_kind),
                                train=dataclasses.replace(base.train, seed=args.seed))
    params = dataclasses.replace(params, models={variant.model: model})
    trained = train_and_register(variant.model, params, args.shards, register_as=f"claims-{args.variant}")
    evaluated = evaluate_registered(trained.pointer, params, args.shards)
    summary = {"claim": variant.claim, "variant": args.variant, "model": variant.model,
               "loss_kind": variant.loss_kind, "seed": args.seed, "metrics": evaluated.metrics,
               "registered": dataclasses.asdict(trained.pointer)}
    with atomic_directory(args.out) as staging:
        (staging / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
