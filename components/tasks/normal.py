"""Surface normals (§2.2, Eq. 2.4): L2-normalised 3-vectors, angular-error metrics."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from components.config import EvaluateConfig, LossConfig
from components.losses import normal_loss
from components.metrics.normals import NormalMetrics, mean_normal_direction
from components.tasks.base import Batch, DatasetInfo, Evaluation, Outputs, Predictor, Task
from components.tasks.colorize import colorize_normals


class NormalEvaluation(Evaluation):
    def __init__(self) -> None:
        self.metrics = NormalMetrics()

    def update(self, predictions: Sequence[np.ndarray], samples: Sequence[dict]) -> None:
        for pred, sample in zip(predictions, samples):
            self.metrics.update(pred, sample["normal"])

    def compute(self) -> dict[str, float]:
        return self.metrics.compute()


class NormalTask(Task):
    name = "normal"
    target_fields = ("normal",)
    loss_kinds = ("cos_acos", "cos", "acos")
    headline = (("mean", False), ("median", False), ("within_11_25", True))

    def loss(self, outputs: Outputs, batch: Batch, loss: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
        value = normal_loss(outputs["normal"], batch["normal"], kind=self.check_loss(loss), lam=loss.lam)
        return value, {"loss": value.item()}

    def predict(self, outputs: Outputs) -> list[np.ndarray]:
        return list(outputs["normal"].permute(0, 2, 3, 1).float().cpu().numpy())

    def evaluation(self, config: EvaluateConfig, info: DatasetInfo) -> Evaluation:
        return NormalEvaluation()

    def fit_trivial(self, train_samples: Sequence[dict]) -> tuple[str, Predictor]:
        direction = mean_normal_direction([s["normal"] for s in train_samples]).astype(np.float32)
        return "constant_mean_normal", lambda sample: np.broadcast_to(direction, sample["normal"].shape).copy()

    def visualize(self, prediction: np.ndarray, sample: dict) -> list[np.ndarray]:
        return [colorize_normals(prediction), colorize_normals(sample["normal"])]
