"""Semantic segmentation (§2.2, Eq. 2.1): K-way softmax per pixel, mIoU / pixel accuracy."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from components.config import EvaluateConfig, LossConfig
from components.losses import cross_entropy_loss
from components.metrics.segmentation import SegmentationMetrics, majority_class
from components.tasks.base import Batch, DatasetInfo, Evaluation, Outputs, Predictor, Task
from components.tasks.colorize import colorize_labels

IGNORE = 255


class SegmentationEvaluation(Evaluation):
    def __init__(self, num_classes: int):
        self.metrics = SegmentationMetrics(num_classes, ignore_index=IGNORE)

    def update(self, predictions: Sequence[np.ndarray], samples: Sequence[dict]) -> None:
        for pred, sample in zip(predictions, samples):
            self.metrics.update(pred, sample["seg"])

    def compute(self) -> dict[str, float]:
        return self.metrics.compute()


class SegmentationTask(Task):
    name = "segmentation"
    target_fields = ("seg",)
    loss_kinds = ("cross_entropy",)
    headline = (("miou", True), ("pixel_acc", True))

    def model_kwargs(self, info: DatasetInfo) -> dict:
        return {"num_classes": info.num_classes}

    def loss(self, outputs: Outputs, batch: Batch, loss: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
        value = cross_entropy_loss(outputs["logits"], batch["seg"], ignore_index=IGNORE)
        return value, {"loss": value.item()}

    def predict(self, outputs: Outputs) -> list[np.ndarray]:
        return list(outputs["logits"].argmax(1).to(torch.uint8).cpu().numpy())

    def evaluation(self, config: EvaluateConfig, info: DatasetInfo) -> Evaluation:
        return SegmentationEvaluation(info.num_classes)

    def fit_trivial(self, train_samples: Sequence[dict]) -> tuple[str, Predictor]:
        histogram = sum(np.bincount(s["seg"].ravel(), minlength=256) for s in train_samples)
        label = np.uint8(majority_class(histogram[:IGNORE]))
        return "majority_class", lambda sample: np.full(sample["seg"].shape, label, np.uint8)

    def visualize(self, prediction: np.ndarray, sample: dict) -> list[np.ndarray]:
        return [colorize_labels(prediction), colorize_labels(sample["seg"])]
