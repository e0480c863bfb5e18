"""Real Ray Train runs on CPU: two DDP workers, a killed worker resuming from its checkpoint,
and the MLflow register -> load-by-version round trip with another batch size."""
from __future__ import annotations

import copy
import dataclasses
import os
import subprocess
import sys

import mlflow
import pytest
import torch
from mlflow import MlflowClient

from components.config import from_dict, Params
from components.errors import PixelpredError
from components.track.registry import ModelPointer, load_model
from components.train.checkpoint import load_checkpoint, save_checkpoint
from components.train.launch import local_ray, ray_temp_dir, train_and_register
from tests.conftest import TINY_PARAMS, write_params

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def make_params(tmp_path, **ray) -> Params:
    raw = copy.deepcopy(TINY_PARAMS)
    raw["ray"].update(ray)
    raw["models"]["depth_baseline"]["train"].update(steps=8, checkpoint_every=2, log_every=1)
    params = from_dict(Params, raw, "params")
    return dataclasses.replace(params, root=tmp_path)


def test_two_workers_survive_a_killed_worker_and_register(tmp_path, tiny_dataset, monkeypatch):
    # Ray's own 2 s controller poll (the stages use 0.25 s): the 8 steps then outlast MLflow's 2 s system-metrics
    # sampling interval, so the run has system metrics to check.
    monkeypatch.setenv("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "2")
    params = make_params(tmp_path, num_workers=2, cpus_per_worker=1, max_failures=1)
    outcome = train_and_register("depth_baseline", params, tiny_dataset, inject_failure_at_step=5)

    # Rank 0 died at step 5. The restarted group resumed from the last checkpoint the controller had
    # registered (step 4, or step 2 when the step-4 report was still in flight) and went on to 8.
    assert outcome.metrics["step"] == 8
    client = MlflowClient()
    run = client.get_run(outcome.pointer.run_id)
    assert run.data.tags["resumed_from_step"] in ("2", "4")
    assert run.data.params["ray.num_workers"] == "2"
    history = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert max(history) == 8 and {1, 2, 3, 4, 5, 6, 7, 8} <= set(history)
    assert any(k.startswith("system/") for k in run.data.metrics), "system metrics were not logged"
    assert "val/delta1" in run.data.metrics
    assert client.list_artifacts(run.info.run_id, "images") or client.list_artifacts(run.info.run_id)

    # The registry holds this exact version under the alias; loading it works at another batch size.
    pointer = outcome.pointer
    assert str(client.get_model_version_by_alias("depth_baseline", "champion").version) == pointer.version
    pointer.write(tmp_path / "model.json")
    model = load_model(ModelPointer.read(tmp_path / "model.json", params.storage))
    with torch.no_grad():
        for batch in (1, 3):
            out = model(torch.randn(batch, 3, 40, 56))
            assert out["log_depth"].shape == (batch, 1, 40, 56)

    # The DVC-cached checkpoint rebuilds the same network without MLflow.
    save_checkpoint(tmp_path / "checkpoint.pt", outcome.model, outcome.model_config)
    rebuilt = load_checkpoint(tmp_path / "checkpoint.pt")
    image = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(image)["log_depth"], model(image)["log_depth"])


def test_a_diverging_run_fails_at_once_without_retries(tmp_path, tiny_dataset):
    """A non-finite loss is deterministic: the run ends at that step on the first attempt although
    max_failures allows two retries, is marked FAILED, and nothing is registered."""
    params = make_params(tmp_path, max_failures=2)
    base = params.model("depth_baseline")
    huge_lr = dataclasses.replace(base.train.optim, lr=1e12, schedule="constant")
    diverging = dataclasses.replace(base, train=dataclasses.replace(base.train, optim=huge_lr, grad_clip=0.0))
    params = dataclasses.replace(params, models={"depth_baseline": diverging})
    with pytest.raises(PixelpredError, match="diverged at step"):
        train_and_register("depth_baseline", params, tiny_dataset)

    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("pixelpred").experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["resumed_from_step"] == "0"          # a retry would resume from a checkpoint
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
    assert len(steps) == len(set(steps)) and max(steps) < 8   # logged once each, stopped early
    assert not client.search_registered_models()


def test_mlflow_store_is_sqlite_at_an_absolute_path_in_the_checkout(tmp_path):
    params = make_params(tmp_path)
    from components.track.tracking import connect, resolve_tracking_uri
    uri = resolve_tracking_uri(params.tracking, params.root)
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    experiment_id = connect(params.tracking, params.root)
    location = mlflow.get_experiment(experiment_id).artifact_location
    assert location == (tmp_path / "mlflow" / "artifacts").resolve().as_uri()


def test_stage_attaches_to_an_existing_ray_head(tmp_path, tiny_dataset):
    """RAY_ADDRESS names a running head: the stage trains there instead of starting its own Ray."""
    with local_ray(ray_temp_dir(tmp_path), num_cpus=2, _node_ip_address="127.0.0.1") as context:
        result = run_train_stage(tmp_path, tiny_dataset, RAY_ADDRESS=context.address_info["address"])
    assert "Connecting to existing Ray cluster" in result.stderr
    assert "Started a local Ray instance" not in result.stderr
    assert (tmp_path / "out" / "model.json").is_file()


def test_stage_starts_its_own_ray_beside_another_instance(tmp_path, tiny_dataset):
    """A second Ray instance on the machine (another stage, a parallel test worker): the stage's own Ray is
    the one its placement-group cleaner asks, instead of failing on "multiple active Ray instances"."""
    with local_ray(os.path.join(ray_temp_dir(tmp_path), "other"), num_cpus=1, _node_ip_address="127.0.0.1"):
        result = run_train_stage(tmp_path, tiny_dataset)
    assert "Started a local Ray instance" in result.stderr
    assert "PlacementGroupCleaner" not in result.stderr, result.stderr[-3000:]   # its actor logs only on failure
    assert "multiple active Ray instances" not in result.stderr
    assert (tmp_path / "out" / "model.json").is_file()


def run_train_stage(tmp_path, shards, **env) -> subprocess.CompletedProcess:
    """`pixelpred train seg_baseline` in a subprocess with `env` added to this one's."""
    params = copy.deepcopy(TINY_PARAMS)
    params["ray"].update(num_workers=1, cpus_per_worker=1)
    path = write_params(tmp_path, params)
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "--params", str(path), "train", "seg_baseline",
                             "--shards", str(shards), "--out", "out"],
                            cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result
