"""PFF training-step cost: the linear-head form (no N x k² x H x W filters) against forming the filters.

Times forward + L1 backward of each restoration model of params.yaml at its training batch and patch size,
with random inputs: pff_* by default (filters never formed, `apply_linear_filter_flow`) and with
`with_filters=True` (the head's filters formed, then `apply_filter_flow`: the form before the change), and
the residual CNN on the same trunk for scale. Run from the repository root:
    .venv/bin/python -m benchmarks.pff_step [--threads 2] [--steps 20]
Prints JSON with the machine, milliseconds per step (median of --steps after warm-up) and the speed-ups.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from benchmarks.machine_speed import cpu_model
from components.config import load_params
from components.models.registry import create_model

MODELS = ("pff_deblur", "pff_jpeg", "pff_sr", "cnn_residual_jpeg")
WARMUP = 3


def step_ms(model: torch.nn.Module, batch: int, patch: int, steps: int, **forward: bool) -> float:
    """Median milliseconds of one forward + L1 backward on a channels-last batch (as training feeds it)."""
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(batch, 3, patch, patch, generator=generator).contiguous(memory_format=torch.channels_last)
    target = torch.rand(batch, 3, patch, patch, generator=generator)
    times = []
    for i in range(WARMUP + steps):
        start = time.perf_counter()
        (model(image, **forward)["restored"] - target).abs().mean().backward()
        if i >= WARMUP:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--params", default="params.yaml")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    params = load_params(arguments.params)
    result = {"benchmark": "pff_step", "cpu_model": cpu_model(), "cores": os.cpu_count(),
              "threads": arguments.threads, "torch": torch.__version__, "load_average_at_start": os.getloadavg(),
              "timing": f"median of {arguments.steps} forward+backward steps after {WARMUP} warm-up", "models": {}}
    for name in MODELS:
        config = params.model(name)
        torch.manual_seed(0)
        model = create_model(name, config.backbone).train()
        batch, patch = config.train.batch_size, config.train.patch
        entry = {"batch": batch, "patch": patch, "ms_per_step": round(step_ms(model, batch, patch, arguments.steps), 1)}
        if getattr(model, "returns_filters", False):
            entry["ms_per_step_forming_filters"] = round(
                step_ms(model, batch, patch, arguments.steps, with_filters=True), 1)
            entry["speedup"] = round(entry["ms_per_step_forming_filters"] / entry["ms_per_step"], 2)
        result["models"][name] = entry
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
