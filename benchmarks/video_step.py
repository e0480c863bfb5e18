"""Video models' cost (issue 11): inference on one 256 x 256 pair, training-step throughput at the main job's
settings, and one training step at 256 x 256 with its peak memory, for mgpff and flownet_s as params.yaml builds
them (random frames and flows: the cost does not depend on content).

Run from the repository root:
    .venv/bin/python -m benchmarks.video_step [--threads 2] [--device cpu|cuda] [--steps 10]
Prints JSON with the machine. Peak memory: on CUDA torch's max_memory_allocated; on CPU the highest resident set
sampled every millisecond during one 256 x 256 step minus the resident set just before it, each model measured in
a fresh child process, so the figure is the step's own working set (weights and the interpreter excluded). Not
ru_maxrss: the process's high-water mark from importing torch is above a small model's step, which then reads 0.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import threading
import time

import psutil

import torch

from benchmarks.machine_speed import cpu_model
from components.config import load_params
from components.models.registry import create_model
from components.tasks.video import VideoTask

MODELS = ("mgpff", "flownet_s")
WARMUP = 2
THESIS_SIZE = 256            # §7.2.6: 0.1 s for a 256 x 256 pair on a 2016 GPU; issue 11's GPU goal: 10 ms


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _batch(size: int, height: int, width: int, device: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"image": torch.randn(size, 6, height, width, generator=generator).to(device),
            "flow": (3 * torch.randn(size, 2, height, width, generator=generator)).to(device),
            "flow_back": (3 * torch.randn(size, 2, height, width, generator=generator)).to(device)}


def _median_ms(fn, steps: int, device: str) -> float:
    times = []
    for i in range(WARMUP + steps):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        if i >= WARMUP:
            times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def _build(name: str, params_path: str, device: str):
    config = load_params(params_path).model(name)
    torch.manual_seed(0)
    return create_model(name, config.backbone).to(device), config


def _train_step(model, config, batch) -> None:
    model.zero_grad(set_to_none=True)
    value, _ = VideoTask().loss(model(batch["image"]), batch, config.loss)
    value.backward()


def _peak_step(name: str, params_path: str, threads: int, queue) -> None:
    """Child process: one 256 x 256 training step at batch 1 -> (ms, MB of resident-set rise) on the queue."""
    torch.set_num_threads(threads)
    model, config = _build(name, params_path, "cpu")
    batch = _batch(1, THESIS_SIZE, THESIS_SIZE, "cpu")
    process, done = psutil.Process(), threading.Event()
    before = peak = process.memory_info().rss

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    _train_step(model.train(), config, batch)
    elapsed = (time.perf_counter() - start) * 1000
    done.set()
    sampler.join()
    queue.put((round(elapsed, 1), round((peak - before) / 2 ** 20, 1)))


def measure(name: str, params_path: str, device: str, steps: int, threads: int) -> dict:
    model, config = _build(name, params_path, device)
    pair = _batch(1, THESIS_SIZE, THESIS_SIZE, device)["image"]
    model.eval()
    with torch.no_grad():
        inference = _median_ms(lambda: model(pair), steps, device)
    train = config.train
    # The main job's training pairs: the video stage's 64 x 96 frames (params video.height / width).
    video = load_params(params_path).video
    batch = _batch(train.batch_size, video.height, video.width, device)
    model.train()
    entry = {"inference_ms_256": inference,
             "train_batch": train.batch_size, "train_size": [video.height, video.width],
             "train_ms_per_step": _median_ms(lambda: _train_step(model, config, batch), steps, device)}
    entry["train_pairs_per_s"] = round(1000 * train.batch_size / entry["train_ms_per_step"], 1)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        big = _batch(1, THESIS_SIZE, THESIS_SIZE, device)
        entry["train_ms_256"] = _median_ms(lambda: _train_step(model, config, big), steps, device)
        entry["peak_mb_256"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    else:
        queue = multiprocessing.get_context("spawn").Queue()
        child = multiprocessing.get_context("spawn").Process(target=_peak_step, args=(name, params_path, threads, queue))
        child.start()
        entry["train_ms_256"], entry["peak_mb_256"] = queue.get()
        child.join()
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--params", default="params.yaml")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    result = {"benchmark": "video_step", "cpu_model": cpu_model(), "cores": os.cpu_count(),
              "threads": arguments.threads, "device": arguments.device, "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name() if arguments.device == "cuda" else None,
              "load_average_at_start": os.getloadavg(),
              "timing": f"median of {arguments.steps} after {WARMUP} warm-up; train_ms_256 on CPU: one step",
              "models": {name: measure(name, arguments.params, arguments.device, arguments.steps, arguments.threads)
                         for name in MODELS}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
