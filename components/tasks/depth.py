"""Monocular depth (§2.2, Eq. 2.3): dense log-depth regression, Eigen-protocol metrics."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from components.config import EvaluateConfig, LossConfig
from components.losses import log_depth_loss
from components.metrics.depth import DepthMetrics, median_valid_depth
from components.tasks.base import Batch, DatasetInfo, Evaluation, Outputs, Predictor, Task
from components.tasks.colorize import colorize_depth


class DepthEvaluation(Evaluation):
    def __init__(self) -> None:
        self.metrics = DepthMetrics()

    def update(self, predictions: Sequence[np.ndarray], samples: Sequence[dict]) -> None:
        for pred, sample in zip(predictions, samples):
            self.metrics.update(pred, sample["depth"])

    def compute(self) -> dict[str, float]:
        return self.metrics.compute()


class DepthTask(Task):
    name = "depth"
    target_fields = ("depth",)
    loss_kinds = ("l1_l2", "l1", "l2")
    headline = (("delta1", True), ("abs_rel", False), ("rmse", False))

    def loss(self, outputs: Outputs, batch: Batch, loss: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
        value = log_depth_loss(outputs["log_depth"][:, 0], batch["depth"], kind=self.check_loss(loss), gamma=loss.gamma)
        return value, {"loss": value.item()}

    def predict(self, outputs: Outputs) -> list[np.ndarray]:
        return list(outputs["log_depth"][:, 0].exp().float().cpu().numpy())

    def evaluation(self, config: EvaluateConfig, info: DatasetInfo) -> Evaluation:
        return DepthEvaluation()

    def fit_trivial(self, train_samples: Sequence[dict]) -> tuple[str, Predictor]:
        value = np.float32(median_valid_depth([s["depth"] for s in train_samples]))
        return "constant_median_depth", lambda sample: np.full(sample["depth"].shape, value, np.float32)

    def visualize(self, prediction: np.ndarray, sample: dict) -> list[np.ndarray]:
        vmax = float(sample["depth"].max()) or float(prediction.max())
        return [colorize_depth(prediction, vmax), colorize_depth(sample["depth"], vmax)]
