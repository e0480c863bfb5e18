"""Synth renderer throughput: prints JSON with images/s (single process) per scene kind at a given size.

Run from the repository root: `python -m benchmarks.synth_speed [--height 96 --width 128 --count 50]`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from components.data.synth.render import render_view


def measure(height: int, width: int, count: int, num_annotators: int) -> dict:
    """Image size, views per kind, K -> {kind: images/s, ms/image} plus the machine it ran on."""
    result: dict = {"benchmark": "synth_speed", "height": height, "width": width, "count_per_kind": count,
                    "num_annotators": num_annotators, "processes": 1, "device": "cpu",
                    "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                    "numpy": np.__version__}
    render_view(0, height, width, "indoor", num_annotators)  # warm-up: imports, allocator
    total_seconds = 0.0
    for kind in ("indoor", "street"):
        start = time.perf_counter()
        for seed in range(count):
            render_view(seed, height, width, kind, num_annotators)
        seconds = time.perf_counter() - start
        total_seconds += seconds
        result[kind] = {"images_per_s": round(count / seconds, 2), "ms_per_image": round(1e3 * seconds / count, 2)}
    result["images_per_s"] = round(2 * count / total_seconds, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--count", type=int, default=50, help="views rendered per scene kind")
    parser.add_argument("--annotators", type=int, default=3)
    options = parser.parse_args()
    print(json.dumps(measure(options.height, options.width, options.count, options.annotators), indent=2))


if __name__ == "__main__":
    main()
