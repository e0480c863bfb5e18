"""Reference workload: the yardstick that main-job timings are divided by, so budgets mean the same
on a fast and a slow machine.

A fixed small convolutional network (basic residual blocks, batch norm, the main job's 96x128 input,
batch 8) takes a fixed number of SGD steps (forward + backward) at a fixed thread count. Only torch
and numpy are imported, so the same file measures any commit's environment:
    .venv/bin/python -m benchmarks.machine_speed
Prints JSON: {"reference_s": seconds for all steps, "chunks_s": [...], "cpu_model", "cores", ...}.
About 15 s on a 2-core Intel Xeon VM.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch
from torch import nn

THREADS = 2    # fixed, whatever the machine has: the same work everywhere
STEPS = 120    # timed steps, in CHUNKS equal parts
CHUNKS = 3
WARMUP = 3


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class Block(nn.Module):
    """Residual pair of 3x3 convs: N x C x H x W -> N x C x H x W."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


def reference_network() -> nn.Module:
    """N x 3 x H x W -> N x 8 x H x W: stem at 1/2, two blocks at 1/2 and two at 1/4, upsampled head."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        Block(32), Block(32),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        Block(64), Block(64),
        nn.Conv2d(64, 8, 1), nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False))


def measure(steps: int = STEPS, threads: int = THREADS) -> dict:
    """Run WARMUP + steps SGD steps; seconds per chunk of steps // CHUNKS and their sum."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    network = reference_network()
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(8, 3, 96, 128)
    targets = torch.randn(8, 8, 96, 128)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = (network(images) - targets).abs().mean()
        loss.backward()
        optimizer.step()

    for _ in range(WARMUP):
        step()
    chunks = []
    for _ in range(CHUNKS):
        tic = time.perf_counter()
        for _ in range(steps // CHUNKS):
            step()
        chunks.append(round(time.perf_counter() - tic, 3))
    return {"benchmark": "machine_speed", "reference_s": round(sum(chunks), 2), "chunks_s": chunks,
            "steps": steps // CHUNKS * CHUNKS, "threads": threads, "cpu_model": cpu_model(),
            "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=STEPS, help="timed steps (change only to explore)")
    options = parser.parse_args()
    print(json.dumps(measure(options.steps), indent=2))


if __name__ == "__main__":
    main()
