"""datasets/dvc.yaml under real `dvc repro`: a registry dataset's download and prepare stages, fed from an S3
mirror (moto on loopback; the registry's public URLs are never reached), record the lock, and a model that names
the dataset in params.yaml depends on its prepare stage.

Proven: `dvc repro datasets/dvc.yaml:prepare@nyuv2` runs exactly download@nyuv2 and prepare@nyuv2; the lock file
holds the sha256 of every file as served; the shards have the official split sizes; a second repro runs nothing;
`models.seg_baseline.data: nyuv2` makes train@seg_baseline depend on prepare@nyuv2 in the DAG.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil

import boto3
import numpy as np
import pytest

from components.data.dataset import DatasetInfo
from tests.conftest import REPO, TINY_PARAMS, write_params
from tests.data.test_native_nyuv2 import TEST, TRAIN, miniature
from tests.pipelines.test_dvc_pipeline import dvc, ran_stages

pytestmark = pytest.mark.slow


def test_a_registry_dataset_downloads_from_the_mirror_prepares_and_feeds_a_model(tmp_path, s3_bucket):
    storage, bucket = s3_bucket
    files, _ = miniature(np.random.default_rng(0))
    s3 = boto3.client("s3", endpoint_url=storage.endpoint_url, region_name="us-east-1")
    for name, data in files.items():
        s3.put_object(Bucket=bucket, Key=f"mirror/nyuv2/{name}", Body=data)

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "dvc.yaml", project)
    (project / "datasets").mkdir()
    shutil.copy(REPO / "datasets" / "dvc.yaml", project / "datasets")
    for package in ("components", "pipelines"):
        shutil.copytree(REPO / package, project / package, ignore=shutil.ignore_patterns("__pycache__"))
    params = copy.deepcopy(TINY_PARAMS)
    params["storage"] = {"publish": "", "endpoint_url": storage.endpoint_url, "max_attempts": 2}
    params["download"] = {"mirror": f"s3://{bucket}/mirror", "attempts": 1, "backoff_s": 0.0}
    params["models"] = {"seg_baseline": {**params["models"]["seg_baseline"], "data": "nyuv2"}}
    write_params(project, params)
    dvc(project, "init", "--no-scm", "-q")

    assert ran_stages(dvc(project, "repro", "datasets/dvc.yaml:prepare@nyuv2")) == {
        "datasets/dvc.yaml:download@nyuv2", "datasets/dvc.yaml:prepare@nyuv2"}
    lock = json.loads((project / "datasets" / "locks" / "nyuv2.json").read_text())
    assert lock == {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for name, data in files.items()}
    info = DatasetInfo.read(project / "data" / "nyuv2")
    assert info.source == "nyuv2" and len(info.class_names) == 40
    assert info.split_sizes == {"train": len(TRAIN) - 1, "val": 1, "test": len(TEST)}

    assert ran_stages(dvc(project, "repro", "datasets/dvc.yaml:prepare@nyuv2")) == set()
    mermaid = dvc(project, "dag", "--outs", "--md", "train@seg_baseline")
    nodes = dict(re.findall(r'(node\d+)\["([^"]+)"\]', mermaid))
    edges = {(nodes[a], nodes[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", mermaid)}
    assert {("data/downloads/nyuv2", "data/nyuv2"), ("data/nyuv2", "results/train/seg_baseline/model.json")} <= edges
