"""Ray Train on shared storage: checkpoints in S3 (moto on loopback), and a stage whose driver was killed
resuming the same Ray Train run, and the same MLflow run, when it is run again."""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time

import boto3
import pytest
from mlflow import MlflowClient

from tests.conftest import TINY_PARAMS, write_params

pytestmark = [pytest.mark.slow, pytest.mark.ray]

STEPS = 40


def train_command(tmp_path, shards) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "--params", str(tmp_path / "params.yaml"), "train",
            "depth_baseline", "--shards", str(shards), "--out", "out"]


def test_a_killed_driver_resumes_the_same_run_from_s3(tmp_path, tiny_dataset, s3_bucket):
    storage, bucket = s3_bucket
    params = copy.deepcopy(TINY_PARAMS)
    params["ray"].update(storage_path=f"s3://{bucket}/ray", cpus_per_worker=1)
    params["storage"] = {"endpoint_url": storage.endpoint_url}
    params["models"]["depth_baseline"]["train"].update(steps=STEPS, checkpoint_every=4, log_every=1)
    write_params(tmp_path, params)
    s3 = boto3.client("s3", endpoint_url=storage.endpoint_url, region_name="us-east-1")

    def objects() -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ray/").get("Contents", [])]

    # First attempt: killed (driver, its local Ray and workers: the whole process group) after a checkpoint.
    driver = subprocess.Popen(train_command(tmp_path, tiny_dataset), cwd=tmp_path, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not any("/checkpoint_" in key for key in objects()):
        assert driver.poll() is None, "the first attempt ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint reached S3 in time"
        time.sleep(0.5)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    state_key = next(k for k in objects() if k.endswith("pixelpred_run.json"))
    first = json.loads(s3.get_object(Bucket=bucket, Key=state_key)["Body"].read())
    assert first["complete"] is False

    # Second attempt: the same stage again, to the end.
    done = subprocess.run(train_command(tmp_path, tiny_dataset), cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming Ray Train run" in done.stderr
    state = json.loads(s3.get_object(Bucket=bucket, Key=state_key)["Body"].read())
    assert state["complete"] is True and state["mlflow_run_id"] == first["mlflow_run_id"]

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow/mlflow.db")   # the stage's default store
    (run,) = client.search_runs([client.get_experiment_by_name("pixelpred").experiment_id])
    assert run.info.run_id == first["mlflow_run_id"] and run.info.status == "FINISHED"
    assert int(run.data.tags["resumed_from_step"]) >= 4
    steps = {m.step for m in client.get_metric_history(run.info.run_id, "train/loss")}
    assert set(range(1, STEPS + 1)) <= steps                  # one continuous history over both attempts
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["step"] == STEPS
    assert any(k.endswith(".pt") or "/checkpoint_" in k for k in objects())   # checkpoints live in S3
