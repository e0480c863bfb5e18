"""Surface normal metrics (SPEC §6): angular error pooled over all valid pixels of the dataset."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from components.errors import PixelpredError

WITHIN_DEGREES = {"within_11_25": 11.25, "within_22_5": 22.5, "within_30": 30.0}


def _unit_vectors(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) vectors -> float64 (P, 3) unit vectors and (P,) norms; zero vectors stay zero."""
    normals = np.asarray(normals, dtype=np.float64)
    if normals.shape[-1] != 3:
        raise PixelpredError(f"normal maps need a last axis of size 3, got shape {normals.shape}")
    vectors = normals.reshape(-1, 3)
    norm = np.linalg.norm(vectors, axis=1)
    return vectors / np.maximum(norm, np.finfo(np.float64).tiny)[:, None], norm


def mean_normal_direction(normal_maps: Iterable[np.ndarray]) -> np.ndarray:
    """Normal maps (each (..., 3), zero = invalid) -> (3,) unit mean of their valid normals (constant baseline)."""
    total = np.zeros(3)
    for normals in normal_maps:
        unit, _ = _unit_vectors(normals)
        total += unit.sum(0)  # invalid (zero) vectors add nothing
    length = np.linalg.norm(total)
    if length == 0:
        raise PixelpredError("valid normals are absent or cancel out; the mean direction is undefined")
    return total / length


class NormalMetrics:
    """Streaming accumulator: update(pred, gt) per batch of normal maps -> compute() dict of floats."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        # Mean, RMSE and the within-t fractions are exact running sums; the exact pooled median
        # needs every angle, kept as float32 (rounding below 1e-5 degrees).
        self.angles: list[np.ndarray] = []
        self.num_pixels = 0
        self.angle_sum = 0.0
        self.squared_sum = 0.0
        self.within_counts = dict.fromkeys(WITHIN_DEGREES, 0)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Normals pred, gt (N, H, W, 3) or (H, W, 3); pred need not be unit; gt zero vectors are invalid."""
        if np.shape(pred) != np.shape(gt):
            raise PixelpredError(f"prediction shape {np.shape(pred)} does not match ground-truth shape {np.shape(gt)}")
        pred_unit, _ = _unit_vectors(pred)
        gt_unit, gt_norm = _unit_vectors(gt)
        valid = gt_norm > 0
        # A zero prediction has no direction: its cosine is 0, so it scores 90 degrees.
        cosine = np.clip(np.einsum("pc,pc->p", pred_unit[valid], gt_unit[valid]), -1.0, 1.0)
        angle = np.degrees(np.arccos(cosine))
        self.angles.append(angle.astype(np.float32))
        self.num_pixels += angle.size
        self.angle_sum += float(angle.sum())
        self.squared_sum += float((angle**2).sum())
        for name, degrees in WITHIN_DEGREES.items():
            self.within_counts[name] += int((angle < degrees).sum())

    def compute(self) -> dict[str, float]:
        """-> {mean, median, rmse (degrees), within_11_25, within_22_5, within_30 (fractions)} over all pixels."""
        if self.num_pixels == 0:
            raise PixelpredError("no valid normal pixel was accumulated; cannot compute normal metrics")
        scores = {
            "mean": self.angle_sum / self.num_pixels,
            "median": float(np.median(np.concatenate(self.angles))),
            "rmse": float(np.sqrt(self.squared_sum / self.num_pixels)),
        }
        scores.update({name: count / self.num_pixels for name, count in self.within_counts.items()})
        return scores
