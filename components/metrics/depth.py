"""Monocular depth metrics (SPEC §6): Eigen protocol, computed per image then averaged over images."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from components.errors import PixelpredError

DEPTH_METRIC_NAMES = ("delta1", "delta2", "delta3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10")


def valid_depth_mask(gt: np.ndarray, min_depth: float = 1e-3, max_depth: float = float("inf")) -> np.ndarray:
    """Ground-truth depth (any shape) -> boolean mask of pixels that count (gt > 0 and inside the range)."""
    return (gt > 0) & (gt >= min_depth) & (gt <= max_depth)


def median_valid_depth(depth_maps: Iterable[np.ndarray], min_depth: float = 1e-3,
                       max_depth: float = float("inf")) -> float:
    """Depth maps (each any shape) -> median of all their valid depths (the constant-predictor baseline)."""
    valid = [gt[valid_depth_mask(gt, min_depth, max_depth)].ravel() for gt in map(np.asarray, depth_maps)]
    pooled = np.concatenate(valid) if valid else np.empty(0)
    if pooled.size == 0:
        raise PixelpredError("no valid depth pixel found; cannot compute the median depth")
    return float(np.median(pooled))


def _per_image(array: np.ndarray) -> np.ndarray:
    """(N, ...) batch or single (H, W) map -> float64 (N, P) with one row of pixels per image."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 2:
        array = array[None]
    return array.reshape(array.shape[0], -1)


class DepthMetrics:
    """Streaming accumulator: update(pred, gt) per batch of depth maps -> compute() dict of floats."""

    def __init__(self, min_depth: float = 1e-3, max_depth: float = float("inf")) -> None:
        if not 0 < min_depth < max_depth:
            raise PixelpredError(f"need 0 < min_depth < max_depth, got {min_depth} and {max_depth}")
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.totals = np.zeros(len(DEPTH_METRIC_NAMES), dtype=np.float64)  # sums of per-image metrics
        self.num_images = 0
        self.skipped_images = 0

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Depths in metres pred, gt (N, H, W), (N, 1, H, W) or (H, W); images with no valid pixel are skipped."""
        if np.shape(pred) != np.shape(gt):
            raise PixelpredError(f"prediction shape {np.shape(pred)} does not match ground-truth shape {np.shape(gt)}")
        pred, gt = _per_image(pred), _per_image(gt)
        valid = valid_depth_mask(gt, self.min_depth, self.max_depth)
        count = valid.sum(1)
        kept = count > 0
        self.skipped_images += int((~kept).sum())
        if not kept.any():
            return
        valid, count = valid[kept], count[kept]
        pred = np.clip(pred[kept], self.min_depth, self.max_depth)
        gt = np.where(valid, gt[kept], 1.0)  # invalid pixels get a harmless value; the mask drops them

        def image_mean(values: np.ndarray) -> np.ndarray:
            """(N, P) per-pixel values -> (N,) mean over each image's valid pixels."""
            return np.where(valid, values, 0.0).sum(1) / count

        ratio = np.maximum(pred / gt, gt / pred)
        error = pred - gt
        log_error = np.log(pred) - np.log(gt)
        per_image = np.stack([
            image_mean(ratio < 1.25),
            image_mean(ratio < 1.25**2),
            image_mean(ratio < 1.25**3),
            image_mean(np.abs(error) / gt),
            image_mean(error**2 / gt),
            np.sqrt(image_mean(error**2)),
            np.sqrt(image_mean(log_error**2)),
            image_mean(np.abs(np.log10(pred) - np.log10(gt))),
        ], axis=1)
        self.totals += per_image.sum(0)
        self.num_images += int(kept.sum())

    def compute(self) -> dict[str, float]:
        """-> {delta1..3, abs_rel, sq_rel, rmse, rmse_log, log10}: means over evaluated images, plus image counts."""
        if self.num_images == 0:
            raise PixelpredError("no image with a valid depth pixel was accumulated; cannot compute depth metrics")
        scores = {name: float(total / self.num_images) for name, total in zip(DEPTH_METRIC_NAMES, self.totals)}
        scores["num_images"] = float(self.num_images)
        scores["num_skipped_images"] = float(self.skipped_images)
        return scores
