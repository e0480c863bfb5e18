"""Boundary detection (§2.2, Eq. 2.2): HED-style side outputs + fusion, BSDS ODS/OIS/AP."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
from scipy import ndimage

from components.config import EvaluateConfig, LossConfig
from components.losses import boundary_loss
from components.metrics.boundary import BoundaryEvaluator
from components.tasks.base import Batch, DatasetInfo, Evaluation, Outputs, Predictor, Task
from components.tasks.colorize import colorize_gray


def consensus_target(edge: torch.Tensor) -> torch.Tensor:
    """Annotator fractions N x 1 x H x W (transforms.collate) -> training target N x H x W: boundary where at
    least half the annotators agree."""
    return (edge.mean(1) >= 0.5).float()


def sobel_magnitude(rgb: np.ndarray) -> np.ndarray:
    """The trivial boundary detector: uint8 H x W x 3 -> gradient magnitude of luma scaled to [0, 1]."""
    luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    magnitude = np.hypot(ndimage.sobel(luma, axis=0), ndimage.sobel(luma, axis=1))
    return magnitude / max(float(magnitude.max()), 1e-6)


class BoundaryEvaluation(Evaluation):
    def __init__(self, config: EvaluateConfig):
        self.evaluator = BoundaryEvaluator(num_thresholds=config.boundary_thresholds, mode=config.boundary_mode,
                                           processes=config.processes or os.cpu_count() or 1)

    def update(self, predictions: Sequence[np.ndarray], samples: Sequence[dict]) -> None:
        # All images in one call: the evaluator spreads them over its processes.
        self.evaluator.update_images(predictions, [sample["edge"] for sample in samples])

    def compute(self) -> dict[str, float]:
        return self.evaluator.compute()

    def plots(self) -> dict[str, list[dict[str, float]]]:
        curve = self.evaluator.curve()
        rows = [dict(zip(curve, values)) for values in zip(*(curve[k].tolist() for k in curve))]
        return {"pr_curve": rows}


class BoundaryTask(Task):
    name = "boundary"
    target_fields = ("edge",)
    loss_kinds = ("balanced", "plain")
    headline = (("ods_f", True), ("ois_f", True), ("ap", True))

    def loss(self, outputs: Outputs, batch: Batch, loss: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
        balanced = self.check_loss(loss) == "balanced"
        value = boundary_loss(outputs["side_logits"], outputs["logits"], consensus_target(batch["edge"]), balanced=balanced)
        return value, {"loss": value.item()}

    def predict(self, outputs: Outputs) -> list[np.ndarray]:
        return list(torch.sigmoid(outputs["logits"][:, 0]).float().cpu().numpy())

    def evaluation(self, config: EvaluateConfig, info: DatasetInfo) -> Evaluation:
        return BoundaryEvaluation(config)

    def fit_trivial(self, train_samples: Sequence[dict]) -> tuple[str, Predictor]:
        return "sobel_magnitude", lambda sample: sobel_magnitude(sample["rgb"])

    def visualize(self, prediction: np.ndarray, sample: dict) -> list[np.ndarray]:
        return [colorize_gray(prediction), colorize_gray(sample["edge"].mean(0))]
