"""Filter flow cost: prints JSON comparing forward+backward time and peak memory, loop vs unfold reference.

Run from the repository root: `python -m benchmarks.filter_flow [--device cuda] [--threads 1]`.
Every (implementation, size) case runs in a fresh subprocess so its peak memory is its own: on CUDA
torch.cuda.max_memory_allocated, on CPU the peak RSS (ru_maxrss) minus the RSS before the inputs were made.
Both include the inputs (N x k² x H x W filters alone are 1.2 GB at 1024², k=17) and the gradients.
An unfold case whose memory, scaled from the previous size by pixel count, would exceed --max-gb is not run;
its entry is that scaled estimate, marked "extrapolated" (memory and time both grow with H·W here).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import psutil
import torch

from components.models.filter_flow import apply_filter_flow, unfold_filter_flow

IMPLEMENTATIONS = {"loop": apply_filter_flow, "unfold": unfold_filter_flow}


def synchronize(device: str) -> None:
    """Wait for queued kernels so wall time covers them."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_case(implementation: str, size: int, k: int, channels: int, device: str, repeats: int) -> dict:
    """One implementation at size x size -> median fwd+bwd seconds and peak bytes (run in a fresh process)."""
    fn = IMPLEMENTATIONS[implementation]
    baseline = psutil.Process().memory_info().rss
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, channels, size, size, generator=generator).to(device).requires_grad_()
    # Non-negative, sum-to-one (the deblurring case), normalised in place so no second copy inflates the peak.
    filters = torch.rand(1, k * k, size, size, generator=generator).to(device)
    filters = filters.div_(filters.sum(1, keepdim=True)).requires_grad_()
    grad_out = torch.randn(1, channels, size, size, generator=generator).to(device)
    seconds = []
    for _ in range(repeats + 1):  # the first pass warms up the allocator and is not timed
        image.grad = filters.grad = None
        synchronize(device)
        start = time.perf_counter()
        fn(image, filters).backward(grad_out)
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated()
    else:  # ru_maxrss is in KiB on Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
    return {"implementation": implementation, "size": size, "seconds_fwd_bwd": statistics.median(seconds[1:]),
            "peak_bytes": peak, "extrapolated": False}


def machine(device: str, threads: int) -> dict:
    """What the numbers were measured on."""
    info = {"device": device, "torch": torch.__version__, "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "torch_threads": threads, "load_average_at_start": os.getloadavg(),
            "memory_total_bytes": psutil.virtual_memory().total}
    with open("/proc/cpuinfo") as cpuinfo:
        info["cpu"] = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
                           platform.processor())
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(device)
    return info


def in_subprocess(arguments: argparse.Namespace, implementation: str, size: int) -> dict:
    """Run one case via `--case` in a fresh interpreter and parse its JSON line."""
    command = [sys.executable, "-m", "benchmarks.filter_flow", "--case", implementation, str(size),
               "--device", arguments.device, "--threads", str(arguments.threads), "--k", str(arguments.k),
               "--channels", str(arguments.channels), "--repeats", str(arguments.repeats)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch intra-op threads (use 1 on a machine shared with other jobs)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 768, 1024])
    parser.add_argument("--k", type=int, default=17)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-gb", type=float, default=psutil.virtual_memory().available / 2 ** 30 / 2,
                        help="skip (and extrapolate) unfold cases predicted to need more (default: half of free RAM)")
    parser.add_argument("--case", nargs=2, metavar=("IMPLEMENTATION", "SIZE"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    if arguments.case:
        implementation, size = arguments.case
        print(json.dumps(run_case(implementation, int(size), arguments.k, arguments.channels, arguments.device,
                                  arguments.repeats)))
        return

    result = {"benchmark": "filter_flow", "k": arguments.k, "channels": arguments.channels, "batch": 1,
              "timing": f"median of {arguments.repeats} forward+backward passes after one warm-up",
              "memory": "peak CUDA allocation" if arguments.device.startswith("cuda")
              else "peak RSS increase of a fresh process, inputs and gradients included",
              **machine(arguments.device, arguments.threads), "cases": []}
    previous: dict[str, dict] = {}
    for size in sorted(arguments.sizes):
        for implementation in IMPLEMENTATIONS:
            last = previous.get(implementation)
            scale = (size / last["size"]) ** 2 if last else 1.0
            if implementation == "unfold" and last and last["peak_bytes"] * scale > arguments.max_gb * 2 ** 30:
                case = {"implementation": implementation, "size": size, "extrapolated": True,
                        "extrapolated_from_size": last["size"], "seconds_fwd_bwd": last["seconds_fwd_bwd"] * scale,
                        "peak_bytes": int(last["peak_bytes"] * scale)}
            else:
                case = previous[implementation] = in_subprocess(arguments, implementation, size)
            result["cases"].append(case)

    by_key = {(case["implementation"], case["size"]): case for case in result["cases"]}
    summary = {}
    for size in sorted(arguments.sizes):
        loop, unfold = by_key[("loop", size)], by_key[("unfold", size)]
        summary[str(size)] = {"speedup": round(unfold["seconds_fwd_bwd"] / loop["seconds_fwd_bwd"], 2),
                              "memory_ratio": round(unfold["peak_bytes"] / max(loop["peak_bytes"], 1), 2),
                              "unfold_extrapolated": unfold["extrapolated"]}
    result["unfold_over_loop"] = summary
    if "256" in summary:
        result["goal_no_slower_at_256"] = summary["256"]["speedup"] >= 1
    if "1024" in summary:
        result["goal_4x_less_memory_at_1024"] = summary["1024"]["memory_ratio"] >= 4
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
