"""Wall time of every stage of the main job, forced one at a time, plus a no-op `dvc repro`.

Run from the repository root inside the project environment (after `make env`):
    .venv/bin/python -m benchmarks.pipeline_timing > benchmarks/results/pipeline_cpu.json
Prints JSON: {"stages": {name: seconds}, "train_overhead": {model: {...}}, "total_s", "noop_repro_s", "machine"}.
train_overhead splits each train stage into Ray start-up, the fit itself, MLflow registration and the
rest (interpreter, imports, data checks, writing outputs), from the stage's own metrics.json.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml


def stage_order(root: Path) -> list[str]:
    models = list(yaml.safe_load((root / "params.yaml").read_text())["models"])
    return (["download", "prepare"] + [f"train@{m}" for m in models] + [f"evaluate@{m}" for m in models] + ["report"])


def dvc(*args: str) -> float:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    tic = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return round(time.perf_counter() - tic, 2)


def train_overhead(root: Path, stages: dict[str, float]) -> dict[str, dict[str, float]]:
    """Per model: the train stage's wall time split as its metrics.json records it."""
    out = {}
    for stage, wall in stages.items():
        if stage.startswith("train@"):
            model = stage.removeprefix("train@")
            metrics = json.loads((root / "results" / "train" / model / "metrics.json").read_text())
            parts = {k.removeprefix("time/"): v for k, v in metrics.items() if k.startswith("time/")}
            out[model] = {**parts, "other_s": round(wall - sum(parts.values()), 2)}
    return out


def main() -> None:
    root = Path.cwd()
    stages = {stage: dvc("repro", "--force", "--single-item", stage) for stage in stage_order(root)}
    noop = dvc("repro")
    print(json.dumps({"stages": stages, "train_overhead": train_overhead(root, stages),
                      "total_s": round(sum(stages.values()), 1), "noop_repro_s": noop,
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"},
                     indent=2))


if __name__ == "__main__":
    main()
