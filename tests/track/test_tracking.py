"""MLflow as its users expect: the experiment opens in the model-training view, runs record the datasets
they used, a model's train and evaluate runs share grouping tags, and evaluation links the scored version."""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import shutil

import mlflow
import pytest
from mlflow import MlflowClient

from components.config import Params, TrackingConfig, from_dict
from components.data.shards import manifest_path
from components.models import model_size
from components.track.datasets import split_dataset
from components.track.registry import logged_model_id
from components.track.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, connect
from tests.conftest import TINY_PARAMS


def test_the_experiment_is_created_and_kept_as_a_model_training_experiment(tmp_path):
    config = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db", experiment="pixelpred")
    experiment_id = connect(config, tmp_path)
    assert mlflow.get_experiment(experiment_id).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    # A store made before the tag existed gets it on the next connection.
    MlflowClient().delete_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG)
    assert EXPERIMENT_KIND_TAG not in mlflow.get_experiment(experiment_id).tags
    assert connect(config, tmp_path) == experiment_id
    assert mlflow.get_experiment(experiment_id).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND


def test_a_split_is_recorded_by_name_source_and_manifest_digest(tmp_path, tiny_dataset):
    dataset = split_dataset(tiny_dataset, "train", "synth")
    expected = hashlib.sha256(manifest_path(tiny_dataset, "train").read_bytes()).hexdigest()
    assert dataset.name == "synth/train" and expected.startswith(dataset.digest) and len(dataset.digest) == 16
    assert dataset.source.to_dict()["uri"] == str(tiny_dataset.resolve())
    assert split_dataset(tiny_dataset, "val", "synth").digest != dataset.digest
    # Another split's samples under the same name: the digest follows the manifest, not the path.
    copy_dir = tmp_path / "shards"
    shutil.copytree(tiny_dataset, copy_dir)
    shutil.copy(manifest_path(tiny_dataset, "val"), manifest_path(copy_dir, "train"))
    assert split_dataset(copy_dir, "train", "synth").digest != dataset.digest


@pytest.mark.slow
@pytest.mark.ray
def test_train_and_evaluate_runs_record_datasets_share_tags_and_link_the_version(tmp_path, tiny_dataset):
    from components.train.evaluate import evaluate_registered
    from components.train.launch import train_and_register

    raw = copy.deepcopy(TINY_PARAMS)
    params = dataclasses.replace(from_dict(Params, raw, "params"), root=tmp_path)
    trained = train_and_register("seg_baseline", params, tiny_dataset)
    evaluated = evaluate_registered(trained.pointer, params, tiny_dataset)

    client = MlflowClient()
    train_run, eval_run = client.get_run(trained.pointer.run_id), client.get_run(evaluated.run_id)
    for run in (train_run, eval_run):
        assert run.data.tags["registered_model"] == "seg_baseline" and run.data.tags["model"] == "seg_baseline"
    assert (train_run.data.tags["stage"], eval_run.data.tags["stage"]) == ("train", "evaluate")

    def inputs(run):
        return {(d.dataset.name, next(t.value for t in d.tags if t.key == "mlflow.data.context"), d.dataset.digest)
                for d in run.inputs.dataset_inputs}
    digest = {split: split_dataset(tiny_dataset, split, "synth").digest for split in ("train", "val", "test")}
    assert inputs(train_run) == {("synth/train", "training", digest["train"]), ("synth/val", "validation", digest["val"])}
    assert inputs(eval_run) == {("synth/test", "testing", digest["test"])}

    # The evaluation names the version it scored, takes its logged model as an input, and logs its test
    # metrics against that model, so the version's model page lists them.
    version = client.get_model_version("seg_baseline", trained.pointer.version)
    assert eval_run.data.tags["model_version"] == str(version.version) and version.tags["evaluation_run_id"] == eval_run.info.run_id
    size = model_size(trained.model)
    assert version.tags["parameters"] == str(size["parameters"]) and float(version.tags["size_mb"]) == size["size_mb"] > 0
    assert [m.model_id for m in eval_run.inputs.model_inputs] == [logged_model_id(trained.pointer)]
    logged = client.get_logged_model(logged_model_id(trained.pointer))
    assert {m.key for m in logged.metrics if m.run_id == eval_run.info.run_id} >= {"test/miou", "test/pixel_acc"}
