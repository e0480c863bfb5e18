"""How many CPU cores keep one GPU fed at a thesis-scale config, estimated without a GPU.

For each model of a params overlay (default: datasets/params/nyuv2.yaml, the dense baselines at 480 x 640,
ResNet-50, output stride 8, batch 1), counts the floating-point operations of one training step (forward +
backward, `torch.utils.flop_counter`) and times that step on this CPU as a check on the count. A GPU step
takes at least FLOPs / (peak x utilisation): we take the H200's dense TF32 tensor-core peak (convolutions run
in TF32 by default in PyTorch) and a utilisation range, which gives a range of steps/s. The range comes from
NVIDIA's published ResNet-50 v1.5 numbers (DeepLearningExamples, PyTorch, 21.03 container): TF32 training on
one A100 at 938 img/s x ~24.6 GFLOP per 224^2 image (fwd + bwd) is ~23 TFLOP/s, 15 % of the A100's 156 TF32
peak, at a large batch with a GPU data loader: our upper end; batch-1 latency there (V100 FP32 inference, 10.4
ms for 8.2 GFLOP) is ~5 % of peak: our lower end, as a batch-1 step launches every kernel for one image. Dividing by the shard read rate per core measured by `benchmarks.prepare_throughput`
(every field decoded, so an upper bound on the cost) gives cores per GPU. These are estimates, labelled so;
a measured GPU step rate replaces them (`prepare_throughput --gpu-samples-per-s`).
    .venv/bin/python -m benchmarks.gpu_feed_estimate [--overlay datasets/params/nyuv2.yaml] [--cpu-steps 1]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.machine_speed import cpu_model
from components.config import load_params, read_params_file
from components.models.registry import create_model, model_task

# NVIDIA H200 SXM datasheet, dense (no sparsity), TFLOP/s.
H200_PEAK_TFLOPS = {"fp32": 67.0, "tf32_tensor": 494.7, "bf16_tensor": 989.4}
UTILISATION = (0.05, 0.15)   # achieved fraction of peak (see above): a range from published numbers, not a measurement
NUM_CLASSES = {"nyuv2": 40, "sun_rgbd": 37, "stanford2d3d": 13, "cityscapes": 19}
READ_RATES = Path("benchmarks/results/prepare_throughput_cpu.json")


def step(model: torch.nn.Module, image: torch.Tensor) -> None:
    """One forward + backward pass; the loss is the sum of the outputs (its own cost is negligible)."""
    outputs = model(image)
    sum(value.sum() for value in outputs.values()).backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--overlay", default="datasets/params/nyuv2.yaml")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--cpu-steps", type=int, default=1, help="timed CPU steps per model (after one warm-up)")
    args = parser.parse_args()
    params = load_params(["params.yaml", args.overlay])
    overlaid = list(read_params_file(Path(args.overlay)).get("models", {}))
    read_rates = json.loads(READ_RATES.read_text())
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    results = {"benchmark": "gpu_feed_estimate", "overlay": args.overlay, "cpu_model": cpu_model(),
               "cores": len(os.sched_getaffinity(0)), "image": [args.height, args.width],
               "h200_tf32_peak_tflops": H200_PEAK_TFLOPS["tf32_tensor"], "utilisation_assumed": list(UTILISATION),
               "models": {}}
    for name in overlaid:
        model_cfg = params.models[name]
        if model_cfg.data not in NUM_CLASSES or model_task(name) not in ("segmentation", "depth", "normal"):
            continue
        kwargs = {"num_classes": NUM_CLASSES[model_cfg.data]} if model_task(name) == "segmentation" else {}
        model = create_model(name, model_cfg.backbone, **kwargs)
        image = torch.rand(model_cfg.train.batch_size, 3, args.height, args.width)
        with FlopCounterMode(display=False) as counter:
            step(model, image)
        flops = counter.get_total_flops()
        step(model, image)  # warm-up
        started = time.perf_counter()
        for _ in range(args.cpu_steps):
            step(model, image)
        cpu_s = (time.perf_counter() - started) / args.cpu_steps
        peak = H200_PEAK_TFLOPS["tf32_tensor"] * 1e12
        steps_per_s = [round(peak * u / flops, 1) for u in UTILISATION]
        read_rate = read_rates[model_cfg.data]["read_samples_per_s_per_core"] if model_cfg.data in read_rates else None
        entry = {"data": model_cfg.data, "batch_size": model_cfg.train.batch_size,
                 "train_step_gflops": round(flops / 1e9, 1), "cpu_step_s": round(cpu_s, 2),
                 "cpu_gflops_per_s": round(flops / cpu_s / 1e9, 1),
                 "gpu_steps_per_s_estimate": steps_per_s}
        if read_rate:
            entry["read_samples_per_s_per_core"] = read_rate
            entry["cores_per_gpu_estimate"] = [round(s * model_cfg.train.batch_size / read_rate, 2) for s in steps_per_s]
        results["models"][name] = entry
        print(f"{name}: {entry}", flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
