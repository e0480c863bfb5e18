"""Batched inference and metric evaluation, shared by training-time validation and the evaluate stage."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from components.config import EvaluateConfig
from components.data.schema import spatial_size
from components.data.transforms import image_tensor, image_uint8
from components.tasks import DatasetInfo, Task
from components.tasks.base import Predictor
from components.tasks.colorize import panel
from components.models.filter_flow import expected_flow
from components.train.tiling import run_tiled


def _same_size_batches(samples: Sequence[dict], batch_size: int) -> list[Sequence[dict]]:
    """Consecutive samples, in order, cut into batches of at most batch_size that share one image size
    (real test sets mix sizes: BSDS500 has portrait and landscape images)."""
    batches: list[Sequence[dict]] = []
    start = 0
    for end in range(1, len(samples) + 1):
        if end == len(samples) or end - start == batch_size or spatial_size(samples[end]) != spatial_size(samples[start]):
            batches.append(samples[start:end])
            start = end
    return batches


@torch.no_grad()
def predict(model: nn.Module, task: Task, samples: Sequence[dict], batch_size: int, progress: bool = False) -> list:
    """Samples -> one prediction per sample (the task's metric format), batch by batch."""
    was_training = model.training
    model.eval()
    predictions: list = []
    for chunk in tqdm(_same_size_batches(samples, batch_size), desc="predict", unit="batch", disable=not progress):
        predictions.extend(task.predict_samples(model, chunk))
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
    rows = [task.panel_row(p, s) for p, s in list(zip(predictions, samples))[:count]]
    return panel(rows)


@torch.no_grad()
def restore_image(model: nn.Module, image: np.ndarray, tile: int = 512, margin: int = 64) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 H x W x 3 -> (restored uint8 H x W x 3, expected filter flow H x W x 2 (dx, dy) or None without filters).

    Runs tile by tile with `margin` pixels of context (components/train/tiling.py), so any image size
    fits in memory; tiles are aligned to the model's total stride.
    """
    with_filters = getattr(model, "returns_filters", False)

    def restore_tile(x: torch.Tensor) -> torch.Tensor:
        if not with_filters:
            return model(x)["restored"]
        out = model(x, with_filters=True)
        return torch.cat([out["restored"], expected_flow(out["filters"])], dim=1)

    multiple = getattr(model, "input_multiple", 1)
    tile, margin = -(-tile // multiple) * multiple, -(-margin // multiple) * multiple   # round up to the stride
    result = run_tiled(restore_tile, image_tensor(image), tile, margin, multiple)[0]
    restored = image_uint8(result[:3])
    flow = result[3:5].permute(1, 2, 0).numpy() if result.shape[0] > 3 else None
    return restored, flow
