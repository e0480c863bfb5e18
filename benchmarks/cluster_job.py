"""What a submitted job costs before it trains: upload, runtime-env set-up, driver start, on a loopback cluster.

    python -m benchmarks.cluster_job [--out benchmarks/results/cluster_job_cpu.json]

Starts a Ray head, a moto S3 server and an MLflow server on 127.0.0.1 (tests/services.py), then times
  empty_job     `ray job submit --working-dir <this checkout's upload> -- python -c pass`: first (uploads the
                package, unpacks it) and again (Ray reuses the package by its hash)
  train_job     a tiny `pixelpred train` job from S3 shards, end to end, with the stage's own split of its time
  local_stage   the same training as a stage on this machine, with the Ray it starts itself
Numbers are seconds on this machine (2 cores: the services compete with the job for them).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import boto3
import yaml

from benchmarks.machine_speed import cpu_model
from benchmarks.working_dir_upload import build_package, describe
from components.config import StorageConfig
from components.storage.publish import publish
from tests.conftest import S3_CREDENTIALS, TINY_PARAMS
from tests.services import BIN, LoopbackCluster, render_shards, start_moto, stop_service

REPO = Path(__file__).resolve().parents[1]
MODEL = "depth_baseline"


def timed(command: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    tic = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return round(time.perf_counter() - tic, 1), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "cluster_job_cpu.json")
    args = parser.parse_args()
    os.environ.update({"RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true", **S3_CREDENTIALS})
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    result: dict = {"cpu_model": cpu_model(), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="ppjob-", dir="/tmp") as tmp:
        root = Path(tmp)
        package = build_package(REPO, root / "package.zip")
        result["upload"] = {k: v for k, v in describe(package).items() if k != "names"}
        working_dir = root / "working_dir"
        with zipfile.ZipFile(package) as archive:
            archive.extractall(working_dir)

        moto, endpoint = start_moto()
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        tic = time.perf_counter()
        cluster = LoopbackCluster(root, StorageConfig(endpoint_url=endpoint), "bench", uuid.uuid4().hex)
        result["services_start_s"] = round(time.perf_counter() - tic, 1)
        try:
            params = copy.deepcopy(TINY_PARAMS)
            params["storage"] = {"endpoint_url": endpoint}
            params["ray"]["storage_path"] = "s3://bench/ray"
            (working_dir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            local_shards = render_shards(working_dir / "params.yaml", root)
            shards = publish(local_shards, StorageConfig(endpoint_url=endpoint, publish="s3://bench/data"),
                             root / "shards.published.json")

            submit = ["job", "submit", "--address", cluster.ray, "--working-dir", str(working_dir)]
            result["empty_job_s"] = {"first": timed([str(BIN / "ray"), *submit, "--", "python", "-c", "pass"],
                                                    env=cluster.env)[0],
                                     "again": timed([str(BIN / "ray"), *submit, "--", "python", "-c", "pass"],
                                                    env=cluster.env)[0]}
            runtime_env = json.dumps({"env_vars": {"MLFLOW_TRACKING_URI": cluster.mlflow}})
            seconds, _ = timed([str(BIN / "ray"), *submit, "--runtime-env-json", runtime_env, "--", "pixelpred", "train",
                                MODEL, "--shards", shards, "--out", f"s3://bench/results/{MODEL}"], env=cluster.env)
            stage = json.loads(cluster.read(f"results/{MODEL}/metrics.json"))
            result["train_job"] = {"wall_s": seconds, "steps": params["models"][MODEL]["train"]["steps"],
                                   **{k: v for k, v in stage.items() if k.startswith("time/")}}
        finally:
            cluster.stop()
            stop_service(moto)
        local = root / "local"
        local.mkdir()
        (local / "params.yaml").write_text(yaml.safe_dump(TINY_PARAMS, sort_keys=False))
        env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": str(root / "ray")}
        seconds, _ = timed([sys.executable, "-m", "pipelines.cli", "--params", str(local / "params.yaml"), "train", MODEL,
                            "--shards", str(local_shards), "--out", str(local / "out")], env=env, cwd=local)
        stage = json.loads((local / "out" / "metrics.json").read_text())
        result["local_stage"] = {"wall_s": seconds, **{k: v for k, v in stage.items() if k.startswith("time/")}}
    text = json.dumps(result, indent=2)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
