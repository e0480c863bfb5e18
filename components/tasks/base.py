"""What the generic train/evaluate code needs to know about a task, and nothing more.

A task turns model outputs into a loss (training), into numpy predictions (evaluation), into
metrics, a trivial baseline predictor, and panels for people. Models declare their task in the
registry; the loop in components/train never branches on task names.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Sequence

import numpy as np
import torch

from components.config import EvaluateConfig, LossConfig, ModelConfig
from components.data.dataset import DatasetInfo
from components.data.transforms import hflip, image_tensor, jitter_colors, random_crop, vflip
from components.errors import PixelpredError

Outputs = dict[str, torch.Tensor]
Batch = dict[str, torch.Tensor]
Predictor = Callable[[dict], np.ndarray]


class Evaluation(ABC):
    """Streaming metrics over a split: update with predictions, then compute."""

    @abstractmethod
    def update(self, predictions: Sequence[np.ndarray], samples: Sequence[dict]) -> None: ...

    @abstractmethod
    def compute(self) -> dict[str, float]: ...

    def plots(self) -> dict[str, list[dict[str, float]]]:
        """Named tables of rows for DVC plots (e.g. a PR curve); none by default."""
        return {}


class Task(ABC):
    name: str
    target_fields: tuple[str, ...]          # schema fields the loss and metrics read
    loss_kinds: tuple[str, ...]             # LossConfig.kind values; the first is the thesis loss
    headline: tuple[tuple[str, bool], ...]  # (metric, higher_is_better) shown in the report
    input_field: str = "rgb"                # the field the model sees (collated as `image`)
    test_split: str = "test"                # the split the evaluate stage scores
    trivial_uses_train: bool = True         # whether fit_trivial reads the training samples
    shifted_splits: tuple[str, ...] = ()    # extra fixed test sets made unlike the training data, scored separately
    optional_fields: tuple[str, ...] = ()   # fields read wherever a sample has them (video: flow, masks)
    color_fields: tuple[str, ...] = ("rgb",)  # the RGB fields train.color_jitter changes, all alike

    @property
    def stored_fields(self) -> tuple[str, ...]:
        """Fields every train/val sample must store (`example` derives the rest)."""
        return (self.input_field, *self.target_fields)

    @property
    def test_fields(self) -> tuple[str, ...]:
        """Fields every test sample must store."""
        return (self.input_field, *self.target_fields)

    def example(self, sample: dict, rng: np.random.Generator, model: ModelConfig, augment: bool) -> dict:
        """A stored sample -> one training (augment) or validation example: random crop, flips and colour jitter
        as train.* asks."""
        if not augment:
            return sample
        train = model.train
        if train.patch:
            sample = random_crop(sample, train.patch, rng)
        if train.hflip and rng.random() < 0.5:
            sample = hflip(sample)
        if train.vflip and rng.random() < 0.5:
            sample = vflip(sample)
        if train.color_jitter:
            sample = jitter_colors(sample, self.color_fields, train.color_jitter, rng)
        return sample

    def check_loss(self, loss: LossConfig) -> str:
        """LossConfig.kind -> the concrete kind ('thesis' means this task's thesis loss)."""
        kind = self.loss_kinds[0] if loss.kind == "thesis" else loss.kind
        if kind not in self.loss_kinds:
            raise PixelpredError(
                f"loss.kind '{loss.kind}' is not valid for task '{self.name}' (choose from thesis, {', '.join(self.loss_kinds)})")
        return kind

    def model_kwargs(self, info: DatasetInfo) -> dict:
        """Extra builder arguments the model needs from the data (e.g. num_classes)."""
        return {}

    @abstractmethod
    def loss(self, outputs: Outputs, batch: Batch, loss: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
        """Model outputs + targets -> (scalar loss, named parts for logging)."""

    @abstractmethod
    def predict(self, outputs: Outputs) -> list[np.ndarray]:
        """Model outputs for N images -> N numpy predictions in the metric's format."""

    def predict_samples(self, model: torch.nn.Module, samples: Sequence[dict]) -> list:
        """Same-size samples -> one prediction each: by default the model on their stacked inputs, once."""
        device = next(model.parameters()).device
        return self.predict(model(image_tensor(np.stack([s[self.input_field] for s in samples])).to(device)))

    @abstractmethod
    def evaluation(self, config: EvaluateConfig, info: DatasetInfo) -> Evaluation: ...

    @abstractmethod
    def fit_trivial(self, train_samples: Sequence[dict]) -> tuple[str, Predictor]:
        """The trivial baseline of this task, fitted on training samples -> (name, predictor)."""

    def explain(self, model: torch.nn.Module, samples: Sequence[dict]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Interpretability views of `model` on a few test samples -> (named uint8 images, named scalars); none by default."""
        return {}, {}

    @abstractmethod
    def visualize(self, prediction: np.ndarray, sample: dict) -> list[np.ndarray]:
        """One prediction -> uint8 images [prediction, ground truth] for a panel row."""

    def panel_row(self, prediction: np.ndarray, sample: dict) -> list[np.ndarray]:
        """One sample's row of the prediction panel: its input, then `visualize`'s images."""
        return [sample[self.input_field], *self.visualize(prediction, sample)]
