"""One full main-job run, timed per stage beside the reference workload (benchmarks/machine_speed.py).

Run from a repository root inside its environment; the script uses only the standard library and
calls machine_speed.py beside it as a subprocess, so it can time any commit's checkout:
    .venv/bin/python -m benchmarks.pipeline_timing --force > benchmarks/results/pipeline_cpu.json
    (cd /tmp/old-clone && .venv/bin/python /path/to/benchmarks/pipeline_timing.py)
Sequence: reference workload, the main job as `make repro` runs it (every stage with --force; a fresh
clone needs none), a no-op `dvc repro`, the reference workload again. The machine must be otherwise idle: a stage's CPU
seconds are the whole machine's busy time (/proc/stat) while it ran, which is what counts Ray's
worker processes too. Prints JSON: per stage wall and CPU seconds and the parts the stage records
itself (`time/*` in its metrics.json: Ray start-up, fit, evaluation, registration), the main job's
total, the reference seconds (mean of the two runs), and ratio = main-job seconds / reference seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

STAGE_LINE = re.compile(r"Running stage '([^']+)'")


def busy_cpu_s() -> float:
    """Seconds of CPU time the whole machine has spent busy since boot (all cores)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def reference() -> dict:
    script = Path(__file__).with_name("machine_speed.py")
    done = subprocess.run([sys.executable, str(script)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def stage_environment() -> dict[str, str]:
    """What `make repro` exports: the environment's commands first, loopback-only telemetry off."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               RAY_USAGE_STATS_ENABLED="0", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{Path.cwd().resolve()}/mlflow/mlflow.db")
    return env


def repro_command(force: bool) -> list[str]:
    """What `make repro` runs: `pixelpred cluster -- dvc repro`, or plain `dvc repro` in a checkout from before
    the shared cluster existed (so that older commits are timed as their own `make repro` ran them)."""
    bin_dir = Path(sys.executable).parent
    repro = [str(bin_dir / "dvc"), "repro", *(["--force"] if force else [])]
    if Path("pipelines/cluster.py").is_file():
        return [str(bin_dir / "pixelpred"), "cluster", "--", *repro]
    return repro


def timed_repro(force: bool, log_path: Path | None) -> tuple[dict[str, dict], float]:
    """Run the main job, splitting wall and CPU time at each 'Running stage' line -> (stages, total wall s)."""
    command = repro_command(force)
    stages: dict[str, dict] = {}
    # Until DVC runs its first stage: DVC's start-up and, with `pixelpred cluster`, the shared Ray's.
    current, wall0, cpu0 = "(start-up)", time.perf_counter(), busy_cpu_s()
    start = wall0

    def close(name: str) -> None:
        if name:
            stages[name] = {"wall_s": round(time.perf_counter() - wall0, 2), "cpu_s": round(busy_cpu_s() - cpu0, 1)}

    log = open(log_path, "w") if log_path else None
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=stage_environment()) as process:
        for line in process.stdout:
            if log:
                log.write(f"[{time.perf_counter() - start:7.1f}s] {line}")
            match = STAGE_LINE.search(line)
            if match:
                close(current)
                current, wall0, cpu0 = match.group(1), time.perf_counter(), busy_cpu_s()
                print(f"[{time.perf_counter() - start:7.1f}s] {current}", file=sys.stderr, flush=True)
        close(current)
    if log:
        log.close()
    if process.returncode:
        raise SystemExit(f"dvc repro failed with exit code {process.returncode}")
    return stages, round(time.perf_counter() - start, 1)


def recorded_parts(stage: str) -> dict[str, float]:
    """The `time/*` seconds a train or evaluate stage wrote into its metrics.json, if any."""
    kind, _, model = stage.partition("@")
    path = Path("results") / kind / model / "metrics.json"
    if not model or not path.exists():
        return {}
    metrics = json.loads(path.read_text())
    return {k.removeprefix("time/"): v for k, v in metrics.items() if k.startswith("time/")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rerun every stage (in a checkout that is up to date)")
    parser.add_argument("--log", type=Path, help="also write the main job's output here, each line time-stamped")
    options = parser.parse_args()
    before = reference()
    stages, total = timed_repro(options.force, options.log)
    for name, stage in stages.items():
        parts = recorded_parts(name)
        if parts:
            stage["parts"] = {**parts, "other_s": round(stage["wall_s"] - sum(parts.values()), 2)}
    tic = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro"], check=True, env=stage_environment(),
                   capture_output=True)
    noop = round(time.perf_counter() - tic, 2)
    after = reference()
    reference_s = round((before["reference_s"] + after["reference_s"]) / 2, 2)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(json.dumps({
        "benchmark": "pipeline_timing", "commit": commit, "date": time.strftime("%Y-%m-%d"),
        "cpu_model": before["cpu_model"], "cores": before["cores"],
        "reference_s": reference_s, "reference_runs_s": [before["reference_s"], after["reference_s"]],
        "total_wall_s": total, "total_cpu_s": round(sum(s["cpu_s"] for s in stages.values()), 1),
        "ratio_to_reference": round(total / reference_s, 1), "noop_repro_s": noop, "stages": stages,
    }, indent=2))


if __name__ == "__main__":
    main()
