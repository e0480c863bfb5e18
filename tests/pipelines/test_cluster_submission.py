"""Cluster submission end to end, on loopback only: a Ray head, a moto S3 server and an MLflow server whose
artifact store is S3. `ray job submit --working-dir` uploads what this checkout would upload, `pixelpred train`
runs on the "cluster" with S3 shards, S3 checkpoints and S3 outputs, rides out an MLflow restart mid-run, and
`evaluate` on this side loads exactly the version the job registered. Credentials live only in the services'
environment and must leak nowhere."""
from __future__ import annotations

import copy
import json
import subprocess
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from benchmarks.working_dir_upload import build_package, describe
from components.config import StorageConfig
from components.storage.publish import publish
from tests.conftest import REPO, TINY_PARAMS
from tests.services import BIN, LoopbackCluster, session_processes, stop_service

MODEL = "depth_baseline"
STEPS = 40
LOGS = {".log", ".out", ".err"}


def test_the_working_dir_upload_is_small_and_leaves_state_and_data_home(tmp_path):
    summary = describe(build_package(REPO, tmp_path / "package.zip"))
    assert summary["upload_bytes"] < 5 * 1024 ** 2, summary            # goal 5 MiB; Ray refuses > 100 MiB
    names = summary["names"]
    assert {"params.yaml", "pyproject.toml", "pipelines/cli.py", "components/train/loop.py"} <= set(names)
    left_home = (".venv/", ".git/", ".dvc/", ".ray/", "mlflow/", "data/", "results/", "tests/", "benchmarks/")
    assert not [n for n in names if n.startswith(left_home) or "__pycache__" in n]


@pytest.fixture
def cluster(tmp_path, s3_bucket, monkeypatch):
    storage, bucket = s3_bucket
    secret = f"pixelpred-secret-{uuid.uuid4().hex}"       # moto takes any key: this one must show up nowhere
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    loopback = LoopbackCluster(tmp_path, storage, bucket, secret)
    try:
        yield loopback
    finally:
        leftovers = loopback.stop()
    assert not leftovers, f"processes left behind: {leftovers}"


@pytest.mark.slow
@pytest.mark.ray
def test_a_submitted_training_job_trains_from_s3_survives_an_mlflow_restart_and_evaluates_here(
        cluster, tiny_dataset, tmp_path):
    bucket, storage = cluster.bucket, cluster.storage
    shards = publish(tiny_dataset, StorageConfig(endpoint_url=storage.endpoint_url, publish=f"s3://{bucket}/data"),
                     tmp_path / "shards.published.json")
    out = f"s3://{bucket}/results/train/{MODEL}"

    # The working dir: exactly what `ray job submit --working-dir .` takes from this checkout, with tiny params
    # that point at the object store (credentials come from the cluster's environment, never from params).
    working_dir = tmp_path / "working_dir"
    with zipfile.ZipFile(build_package(REPO, tmp_path / "package.zip")) as package:
        package.extractall(working_dir)
    params = copy.deepcopy(TINY_PARAMS)
    params["storage"] = {"endpoint_url": storage.endpoint_url}
    params["ray"].update(storage_path=f"s3://{bucket}/ray")
    params["models"][MODEL]["train"].update(steps=STEPS, checkpoint_every=STEPS // 2, log_every=1)
    (working_dir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    runtime_env = {"env_vars": {"MLFLOW_TRACKING_URI": cluster.mlflow}}
    submitted = cluster.ray_cli("job", "submit", "--address", cluster.ray, "--submission-id", "train-1", "--no-wait",
                                "--working-dir", str(working_dir), "--runtime-env-json", json.dumps(runtime_env), "--",
                                "pixelpred", "train", MODEL, "--shards", shards, "--out", out)
    assert submitted.returncode == 0, submitted.stdout[-4000:] + submitted.stderr[-2000:]

    # Mid-run, the MLflow server goes away for a while and comes back on the same store.
    client = MlflowClient(tracking_uri=cluster.mlflow, registry_uri=cluster.mlflow)
    deadline = time.monotonic() + 180
    while not (runs := client.search_runs([e.experiment_id for e in client.search_experiments()])) or \
            len(client.get_metric_history(runs[0].info.run_id, "train/loss")) < 3:
        assert time.monotonic() < deadline, cluster.ray_cli("job", "logs", "--address", cluster.ray, "train-1").stdout
        time.sleep(0.3)
    stop_service(cluster.mlflow_server)
    time.sleep(2)
    cluster.mlflow_server = cluster.start_mlflow()
    logs = cluster.ray_cli("job", "logs", "--follow", "--address", cluster.ray, "train-1").stdout
    status = cluster.ray_cli("job", "status", "--address", cluster.ray, "train-1")
    assert "Job 'train-1' succeeded" in status.stdout, logs[-4000:]
    assert "unreachable" in logs and "answers again" in logs            # the outage was seen, and survived

    # Checkpoints in S3 (Ray's storage path), the stage's outputs in S3, the pointer last.
    assert any("/checkpoint_" in key for key in cluster.objects("ray/"))
    assert {k.rsplit("/", 1)[1] for k in cluster.objects(f"results/train/{MODEL}/")} == {
        "model.json", "checkpoint.pt", "metrics.json", "history.csv"}
    pointer = json.loads(cluster.read(f"results/train/{MODEL}/model.json"))

    # The server's registry holds that version under the alias, its model files in the server's S3 store; the
    # run's history has every step once, although part of it was logged after the outage.
    assert client.get_model_version_by_alias(MODEL, "champion").version == pointer["version"]
    version = client.get_model_version(MODEL, pointer["version"])
    assert version.run_id == pointer["run_id"] == runs[0].info.run_id
    model_id = version.source.removeprefix("models:/")
    assert client.get_logged_model(model_id).artifact_location.startswith("mlflow-artifacts:")   # proxied by the server
    assert any(key.endswith(f"{model_id}/artifacts/MLmodel") for key in cluster.objects("mlflow/"))
    train_run = client.get_run(pointer["run_id"])
    assert train_run.info.status == "FINISHED"
    assert sorted(m.step for m in client.get_metric_history(train_run.info.run_id, "train/loss")) == \
        list(range(1, STEPS + 1))
    assert {json.loads(i.dataset.source)["uri"] for i in train_run.inputs.dataset_inputs} == {shards}

    # A second machine evaluates exactly that version, reading the pointer and the shards from S3.
    local_params = tmp_path / "local.yaml"
    local_params.write_text(yaml.safe_dump({**TINY_PARAMS, "storage": {"endpoint_url": storage.endpoint_url}}))
    evaluated = subprocess.run(
        [str(BIN / "pixelpred"), "--params", str(local_params), "evaluate", MODEL, "--pointer", f"{out}/model.json",
         "--shards", shards, "--out", str(tmp_path / "eval")],
        env={**cluster.env, "MLFLOW_TRACKING_URI": cluster.mlflow}, capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert summary["registered"] == {"name": MODEL, "version": pointer["version"], "run_id": pointer["run_id"]}
    assert client.get_run(summary["evaluation_run_id"]).data.tags["model_version"] == pointer["version"]

    # No credential anywhere: params, job and service logs, MLflow's database (params, tags), stage outputs ...
    assert "registered depth_baseline version" in logs
    texts = {"job logs": logs, "submit output": submitted.stdout + submitted.stderr,
             "evaluate output": evaluated.stdout + evaluated.stderr,
             **{key: cluster.read(key).decode() for key in cluster.objects("results/") if not key.endswith(".pt")}}
    files = [working_dir / "params.yaml", cluster.mlflow_db, tmp_path / "shards.published.json",
             *(tmp_path / "eval").rglob("*.json"), *(p for p in cluster.ray_tmp.rglob("*") if p.suffix in LOGS)]
    texts |= {str(path): path.read_bytes().decode(errors="replace") for path in files if path.is_file()}
    assert len(texts) > 20 and not [where for where, text in texts.items() if cluster.secret in text]
    # ... although the job used it: the cluster's processes have it in their environment (an instance role's place).
    assert any(cluster.secret in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
               for pid in session_processes(cluster.ray_head.pid))
