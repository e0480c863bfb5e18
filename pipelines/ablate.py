"""ablate: train + evaluate one run of a thesis-claim experiment: one variant of the claim, one seed."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from components.config import ClaimExperiment, ModelConfig, Params, load_params
from components.errors import PixelpredError
from components.models import model_task
from components.report.thesis import CLAIMS
from components.storage.local import atomic_directory
from components.train.evaluate import evaluate_registered
from components.train.launch import train_and_register

log = logging.getLogger("pixelpred.ablate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("claim", help="a claim under experiments.claims in params.yaml")
    parser.add_argument("variant", help="one of the claim's variants: a loss kind, a registered model, a JPEG quality or <model>_alpha<alpha>")
    parser.add_argument("--seed", type=int, required=True, help="training seed (weights, data order)")
    parser.add_argument("--shards", type=Path, required=True, help="the variant model's dataset directory")
    parser.add_argument("--out", type=Path, required=True, help="writes metrics.json")


def variant_model(params: Params, experiment: ClaimExperiment, variant: str) -> tuple[str, ModelConfig]:
    """The claim's variant -> (model name, its config): the base model's settings with the varied one replaced."""
    base = params.claim_model(experiment.model)
    if experiment.vary == "model":
        return variant, params.model(variant)
    if experiment.vary in ("architecture", "alpha"):
        name, alpha = experiment.alpha_variant(variant) if experiment.vary == "alpha" else (variant, None)
        if model_task(name) != model_task(experiment.model):
            raise PixelpredError(f"variant '{variant}' is a {model_task(name)} model; the claim trains with "
                                 f"models.{experiment.model}, a {model_task(experiment.model)} model")
        if alpha is None:
            return name, base
        return name, dataclasses.replace(base, loss=dataclasses.replace(base.loss, supervised=alpha))
    if experiment.vary == "loss":
        return experiment.model, dataclasses.replace(base, loss=dataclasses.replace(base.loss, kind=variant))
    quality = int(variant) if variant.isdigit() else variant
    return experiment.model, dataclasses.replace(base, degradation=dataclasses.replace(base.degradation, jpeg_quality=quality))


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    if args.claim not in CLAIMS:
        raise PixelpredError(f"unknown claim '{args.claim}' (known: {', '.join(CLAIMS)})")
    experiment = params.experiments.claim(args.claim)
    if args.variant not in experiment.variants:
        raise PixelpredError(f"variant '{args.variant}' is not among experiments.claims.{args.claim}.variants "
                             f"({', '.join(experiment.variants) or 'none'})")
    name, model = variant_model(params, experiment, args.variant)
    model = dataclasses.replace(model, train=dataclasses.replace(model.train, seed=args.seed))
    params = dataclasses.replace(params, models={name: model})
    trained = train_and_register(name, params, args.shards, register_as=f"claims-{args.claim}-{args.variant}")
    evaluated = evaluate_registered(trained.pointer, params, args.shards)
    summary = {"claim": args.claim, "vary": experiment.vary, "variant": args.variant, "model": name, "seed": args.seed,
               "metrics": evaluated.metrics, "trivial_metrics": evaluated.trivial_metrics, "shifted": evaluated.shifted,
               "registered": dataclasses.asdict(trained.pointer)}
    with atomic_directory(args.out) as staging:
        (staging / "metrics.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
