"""ablate: train + evaluate one run of a thesis-claim experiment: the claim's model with one loss, one seed."""
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
    parser.add_argument("claim", help="a claim under experiments.claims in params.yaml")
    parser.add_argument("loss", help="the loss kind to train with (one of the claim's losses)")
    parser.add_argument("--seed", type=int, required=True, help="training seed (weights, data order)")
    parser.add_argument("--shards", type=Path, required=True, help="prepared shards directory")
    parser.add_argument("--out", type=Path, required=True, help="writes metrics.json")


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if args.claim not in CLAIMS:
        raise PixelpredError(f"unknown claim '{args.claim}' (known: {', '.join(CLAIMS)})")
    experiment = params.experiments.claim(args.claim)
    if args.loss not in experiment.losses:
        raise PixelpredError(f"loss '{args.loss}' is not among experiments.claims.{args.claim}.losses "
                             f"({', '.join(experiment.losses) or 'none'})")
    base = params.model(experiment.model)
    model = dataclasses.replace(base, loss=dataclasses.replace(base.loss, kind=args.loss),
                                train=dataclasses.replace(base.train, seed=args.seed))
    params = dataclasses.replace(params, models={experiment.model: model})
    trained = train_and_register(experiment.model, params, args.shards, register_as=f"claims-{args.claim}-{args.loss}")
    evaluated = evaluate_registered(trained.pointer, params, args.shards)
    summary = {"claim": args.claim, "model": experiment.model, "loss_kind": args.loss, "seed": args.seed,
               "metrics": evaluated.metrics, "registered": dataclasses.asdict(trained.pointer)}
    with atomic_directory(args.out) as staging:
        (staging / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
