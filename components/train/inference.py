"""Batched inference and metric evaluation, shared by training-time validation and the evaluate stage."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from components.config import EvaluateConfig
from components.data.transforms import image_tensor
from components.tasks import DatasetInfo, Task
from components.tasks.base import Predictor
from components.tasks.colorize import panel


@torch.no_grad()
def predict(model: nn.Module, task: Task, samples: Sequence[dict], batch_size: int, progress: bool = False) -> list[np.ndarray]:
    """Samples -> one numpy prediction per sample (the task's metric format)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    predictions: list[np.ndarray] = []
    starts = range(0, len(samples), batch_size)
    for start in tqdm(starts, desc="predict", unit="batch", disable=not progress):
        chunk = samples[start:start + batch_size]
        images = image_tensor(np.stack([s["rgb"] for s in chunk])).to(device)
        predictions.extend(task.predict(model(images)))
    model.train(was_training)
    return predictions


def score(task: Task, predictions: Sequence[np.ndarray], samples: Sequence[dict],
          config: EvaluateConfig, info: DatasetInfo) -> tuple[dict[str, float], dict[str, list[dict]]]:
    """Predictions vs ground truth -> (metrics, plot tables)."""
    evaluation = task.evaluation(config, info)
    evaluation.update(predictions, samples)
    return evaluation.compute(), evaluation.plots()


def predict_trivial(predictor: Predictor, samples: Sequence[dict]) -> list[np.ndarray]:
    """A trivial baseline's predictions for every sample."""
    return [predictor(sample) for sample in samples]


def prediction_panel(task: Task, predictions: Sequence[np.ndarray], samples: Sequence[dict], count: int) -> np.ndarray:
    """First `count` samples -> one image: rows of [input, prediction, ground truth]."""
    rows = [[s["rgb"], *task.visualize(p, s)] for p, s in list(zip(predictions, samples))[:count]]
    return panel(rows)
