"""Learning, restoration: PFF trained briefly with the project's own train step on degraded-on-the-fly
patches beats the degraded input on held-out photographs (the report's comparison at full scale)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from components.config import BackboneConfig, DegradationConfig, EvaluateConfig, ModelConfig, OptimConfig, TrainConfig
from components.data.dataset import DatasetInfo
from components.data.shards import load_split
from components.data.transforms import collate
from components.models import create_model, model_task
from components.tasks import get_task
from components.train.inference import predict, predict_trivial, score
from components.train.loop import build_optimizer, learning_rate, train_step
from pipelines.cli import main
from tests.conftest import TINY_PARAMS, write_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos(tmp_path_factory, tiny_dataset):
    root = tmp_path_factory.mktemp("restoration")
    params = copy.deepcopy(TINY_PARAMS)
    params["degrade"].update(train_photos=["rocket", "ihc", "motorcycle_left", "color", "brick"],
                             test_photos=["astronaut", "coffee"], synth_train=0, tile=96, test_size=96)
    path = write_params(root, params)
    assert main(["--params", str(path), "degrade", "--synth", str(tiny_dataset), "--out", str(root / "data")]) == 0
    return root / "data"


def fit_and_score(name: str, data, steps: int, degradation: DegradationConfig):
    import torch
    task = get_task(model_task(name))
    model_config = ModelConfig(data="restoration", backbone=BackboneConfig(layers=(1, 1, 1, 1), width=8, output_stride=32),
                               train=TrainConfig(steps=steps, patch=48, optim=OptimConfig(name="adam", lr=5e-4, schedule="constant")),
                               degradation=degradation)
    train = load_split(data, "train", required=task.stored_fields)
    test = load_split(data, task.test_split, required=(task.input_field, *task.target_fields))
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = create_model(name, model_config.backbone)
    optimizer = build_optimizer(model, model_config.train.optim)
    for step in range(steps):
        examples = [task.example(train[i], rng, model_config, augment=True) for i in rng.choice(len(train), 8)]
        batch = collate(examples, task.target_fields, task.input_field)
        train_step(model, optimizer, task, batch, model_config.loss, learning_rate(model_config.train.optim, step, steps))
    info, config = DatasetInfo.read(data), EvaluateConfig()
    ours, _ = score(task, predict(model, task, test, 4), test, config, info)
    _, trivial = task.fit_trivial(train)
    degraded, _ = score(task, predict_trivial(trivial, test), test, config, info)
    return ours, degraded


def test_pff_deblurs(photos):
    ours, degraded = fit_and_score("pff_deblur", photos, 150, DegradationConfig())
    assert ours["psnr"] > degraded["psnr"] + 0.1, (ours, degraded)    # measured: +0.19 dB (3x3 head: +0.94; softmax filters: +0.00)


def test_pff_removes_jpeg_artifacts(photos):
    ours, degraded = fit_and_score("pff_jpeg", photos, 300, DegradationConfig(jpeg_quality=10))
    # 150 steps gave +0.19 dB on an Intel Xeon but +0.08 on an AMD EPYC (other kernels, other trajectory).
    assert ours["psnr_q10"] > degraded["psnr_q10"] + 0.1, (ours, degraded)    # measured: +0.48 dB (EPYC)


def test_pff_super_resolves(photos):
    ours, degraded = fit_and_score("pff_sr", photos, 150, DegradationConfig())
    assert ours["psnr"] > degraded["psnr"], (ours, degraded)


def test_residual_cnn_removes_jpeg_artifacts(photos):
    """The CNN twin with a skip from the input (DnCNN/VDSR convention) is a real rival: it starts at the
    identity and improves on the degraded input at the same small budget."""
    ours, degraded = fit_and_score("cnn_residual_jpeg", photos, 150, DegradationConfig(jpeg_quality=10))
    assert ours["psnr_q10"] > degraded["psnr_q10"] + 0.1, (ours, degraded)    # measured: +0.23 dB
