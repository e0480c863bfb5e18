"""Learning: each baseline, trained briefly with the project's own train step, beats its task's
trivial predictor on held-out synth images (the same comparison the report makes at full scale)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from components.config import BackboneConfig, EvaluateConfig, LossConfig, OptimConfig
from components.data.dataset import DatasetInfo
from components.data.shards import load_split
from components.data.transforms import collate, hflip
from components.models import create_model, model_task
from components.tasks import get_task
from components.train.inference import predict, predict_trivial, score
from components.train.loop import build_optimizer, learning_rate, train_step
from pipelines.cli import main
from tests.conftest import TINY_PARAMS, write_params

pytestmark = pytest.mark.slow


def render(root, **data) -> "Path":
    params = copy.deepcopy(TINY_PARAMS)
    params["data"].update(data)
    path = write_params(root, params)
    assert main(["--params", str(path), "download", "--out", str(root / "raw")]) == 0
    assert main(["--params", str(path), "prepare", "--raw", str(root / "raw"), "--out", str(root / "shards")]) == 0
    return root / "shards"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return render(tmp_path_factory.mktemp("learning"), splits={"train": 96, "val": 8, "test": 24}, samples_per_shard=48)


@pytest.fixture(scope="module")
def boundary_dataset(tmp_path_factory):
    # BSDS tolerance is 0.0075 x diagonal: 1.2 px at 96 x 128, below one pixel at 48 x 64.
    return render(tmp_path_factory.mktemp("boundaries"), height=96, width=128,
                  splits={"train": 64, "val": 8, "test": 16}, samples_per_shard=64)


def fit_and_score(name: str, shards, steps: int, backbone: BackboneConfig, lr: float):
    task = get_task(model_task(name))
    info = DatasetInfo.read(shards)
    fields = ("rgb", *task.target_fields)
    train, test = load_split(shards, "train", required=fields), load_split(shards, "test", required=fields)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = create_model(name, backbone, **task.model_kwargs(info))
    optim = OptimConfig(lr=lr)
    optimizer = build_optimizer(model, optim)
    for step in range(steps):
        samples = [hflip(train[i]) if rng.random() < 0.5 else train[i] for i in rng.choice(len(train), 8)]
        train_step(model, optimizer, task, collate(samples, task.target_fields), LossConfig(), learning_rate(optim, step, steps),
                   grad_clip=2.0)
    config = EvaluateConfig(boundary_mode="fast", boundary_thresholds=25)
    ours, _ = score(task, predict(model, task, test, 8), test, config, info)
    _, trivial = task.fit_trivial(train)
    baseline, _ = score(task, predict_trivial(trivial, test), test, config, info)
    return ours, baseline


SMALL = BackboneConfig(layers=(1, 1, 1, 1), width=8)


def test_segmentation_beats_majority_class(dataset):
    ours, trivial = fit_and_score("seg_baseline", dataset, 150, SMALL, lr=0.05)
    assert ours["miou"] >= 2 * trivial["miou"], (ours, trivial)


def test_depth_beats_constant_median(dataset):
    ours, trivial = fit_and_score("depth_baseline", dataset, 150, SMALL, lr=0.02)
    assert ours["delta1"] >= trivial["delta1"] + 0.05 and ours["abs_rel"] < trivial["abs_rel"], (ours, trivial)


def test_normals_beat_constant_mean_normal(dataset):
    ours, trivial = fit_and_score("normal_baseline", dataset, 150, SMALL, lr=0.05)
    assert ours["mean"] <= trivial["mean"] - 10, (ours, trivial)


def test_boundaries_beat_sobel(boundary_dataset):
    backbone = BackboneConfig(layers=(1, 1, 1, 1), width=8, decoder=True, full_res_stream=True)
    ours, trivial = fit_and_score("boundary_baseline", boundary_dataset, 300, backbone, lr=0.1)
    assert ours["ods_f"] > trivial["ods_f"], (ours, trivial)
