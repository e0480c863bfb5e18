"""Image restoration (ch. 6): deblurring, JPEG artifact removal and x4 super-resolution.

Training samples store the clean image `gt`; `example` cuts a patch and degrades it on the fly
(components/data/degradations.py), so every step sees new degradations. Test samples (the
`degrade` stage's fixed sets) store `lq`, `gt` and the degradation parameters in `meta`.
Metrics follow §6.4 / SPEC §6: PSNR/SSIM on RGB for deblurring, on the Y channel for JPEG and
SR, SR cropping `scale` border pixels; the trivial baseline is the degraded input itself. Each task
is also scored on its shifted test set (another degradation generator, restoration_set.SHIFTED_SPLITS).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Literal, Sequence

import numpy as np
import torch

from components.config import EvaluateConfig, LossConfig, ModelConfig
from components.data.degradations import crop_to_multiple, degrade
from components.data.restoration_set import SHIFTED_SPLITS
from components.data.transforms import image_tensor, image_uint8
from components.metrics.restoration import mean_scores, restoration_scores
from components.tasks.base import Batch, DatasetInfo, Evaluation, Outputs, Predictor, Task
from components.tasks.colorize import panel
from components.tasks.filter_views import filter_views

FILTER_CLUSTERS = 400   # §6.5: k-means on the predicted filters with K = 400


def degradation_params(sample: dict) -> dict:
    """A fixed test sample -> the parameters its `lq` was made with."""
    return sample["meta"]["degradation"]


class RestorationEvaluation(Evaluation):
    """Per-image PSNR/SSIM -> their means, per quality factor too when the set mixes several (JPEG)."""

    def __init__(self, channels: Literal["rgb", "y"]) -> None:
        self.channels = channels
        self.rows: list[dict] = []

    def update(self, predictions: Sequence[np.ndarray], samples: Sequence[dict]) -> None:
        for pred, sample in zip(predictions, samples):
            params = degradation_params(sample)
            scores = restoration_scores(pred, sample["gt"], self.channels, crop=params.get("scale", 0))
            self.rows.append({"image": sample.get("__key__", ""), "quality": params.get("quality", 0), **scores})

    def compute(self) -> dict[str, float]:
        metrics = mean_scores([{"psnr": r["psnr"], "ssim": r["ssim"]} for r in self.rows])
        for quality, rows in sorted(self._by_quality().items()):
            if quality:
                metrics |= {f"{k}_q{quality}": v for k, v in mean_scores(rows).items() if k != "num_images"}
        return metrics

    def plots(self) -> dict[str, list[dict]]:
        tables = {"per_image": [dict(r) for r in self.rows]}
        by_quality = self._by_quality()
        if any(by_quality):
            tables["by_quality"] = [{"quality": q, **{k: v for k, v in mean_scores(rows).items() if k != "num_images"}}
                                    for q, rows in sorted(by_quality.items())]
        return tables

    def _by_quality(self) -> dict[int, list[dict]]:
        groups: dict[int, list[dict]] = defaultdict(list)
        for row in self.rows:
            groups[row["quality"]].append({"psnr": row["psnr"], "ssim": row["ssim"]})
        return groups


class RestorationTask(Task):
    """One §6.4 task: `name` is the degradation ('deblur', 'jpeg', 'sr') and the test split."""
    target_fields = ("gt",)
    loss_kinds = ("l1",)
    headline = (("psnr", True), ("ssim", True))
    input_field = "lq"
    color_fields = ("gt",)          # jittered before it is degraded
    trivial_uses_train = False      # the trivial baseline is the degraded input itself

    def __init__(self, name: Literal["deblur", "jpeg", "sr"], channels: Literal["rgb", "y"]) -> None:
        self.name = self.test_split = name
        self.channels = channels
        self.shifted_splits = tuple(split for split, task in SHIFTED_SPLITS.items() if task == name)

    @property
    def stored_fields(self) -> tuple[str, ...]:
        return ("gt",)

    def example(self, sample: dict, rng: np.random.Generator, model: ModelConfig, augment: bool) -> dict:
        """Clean {"gt"} -> {"lq", "gt", "meta"}: the base crop and flip of the clean image, then a fresh degradation."""
        gt = super().example({"gt": sample["gt"]}, rng, model, augment)["gt"]
        if self.name == "sr":
            gt = crop_to_multiple(gt, model.degradation.sr_scale)
        lq, params = degrade(self.name, gt, rng, model.degradation)
        return {"__key__": sample.get("__key__", ""), "lq": lq, "gt": gt,
                "meta": {**sample.get("meta", {}), "degradation": params}}

    def loss(self, outputs: Outputs, batch: Batch, loss: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
        self.check_loss(loss)
        value = (outputs["restored"] - batch["gt"]).abs().mean()     # §6.3.2: plain L1 on intensities
        return value, {"loss": value.item()}

    def predict(self, outputs: Outputs) -> list[np.ndarray]:
        return list(image_uint8(outputs["restored"]))

    def evaluation(self, config: EvaluateConfig, info: DatasetInfo) -> Evaluation:
        return RestorationEvaluation(self.channels)

    def fit_trivial(self, train_samples: Sequence[dict]) -> tuple[str, Predictor]:
        return "degraded_input", lambda sample: sample["lq"]

    @torch.no_grad()
    def explain(self, model: torch.nn.Module, samples: Sequence[dict]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """§6.5 views of a filter-flow model: filter-flow maps, top-10 principal filters, k-means cluster colouring."""
        if not samples or not getattr(model, "returns_filters", False):
            return {}, {}
        model.eval()
        outputs = [model(image_tensor(s[self.input_field]), with_filters=True) for s in samples]
        views = filter_views([o["filters"][0].numpy() for o in outputs], clusters=FILTER_CLUSTERS, seed=0)
        restored = self.predict({"restored": torch.cat([o["restored"] for o in outputs])})
        images = {
            "filter_flow": panel([[s["lq"], r, m] for s, r, m in zip(samples, restored, views["flow_maps"])]),
            "filter_pca": views["pca_grid"],
            "filter_clusters": panel([[s["lq"], m] for s, m in zip(samples, views["cluster_maps"])]),
        }
        return images, {"filter_pca_energy_top10": float(views["pca_energy"])}

    def visualize(self, prediction: np.ndarray, sample: dict) -> list[np.ndarray]:
        return [prediction, sample["gt"]]


RESTORATION_TASKS = (RestorationTask("deblur", "rgb"), RestorationTask("jpeg", "y"), RestorationTask("sr", "y"))
