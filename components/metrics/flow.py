"""Flow and frame-reconstruction metrics (SPEC §6, thesis Table 7.2), pooled over pixels.

EPE is the Euclidean distance between predicted and true flow vectors, pooled over every counted pixel of the
whole set (not averaged per image first). Reconstruction error is the mean absolute difference on the 0-255
scale between a frame and its reconstruction, the reconstruction rounded to integer grey levels as an image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def endpoint_errors(flow: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Predicted and true flow (..., H, W, 2) -> per-pixel endpoint error (..., H, W)."""
    difference = np.asarray(flow, np.float64) - np.asarray(truth, np.float64)
    return np.sqrt(np.square(difference).sum(axis=-1))


def reconstruction_errors(rebuilt: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Reconstruction in [0, 255] (float, any rounding) and the uint8 frame (H, W, 3) -> per-pixel mean absolute
    difference over colour channels (H, W), after rounding the reconstruction to integers in [0, 255]."""
    levels = np.clip(np.rint(rebuilt), 0, 255)
    return np.abs(levels - frame.astype(np.float64)).mean(axis=-1)


@dataclass
class PooledMean:
    """Running sum and count of pixel values: the pooled mean over a whole set."""
    total: float = 0.0
    count: int = 0

    def add(self, values: np.ndarray, mask: np.ndarray | None = None) -> None:
        chosen = values if mask is None else values[mask]
        self.total += float(chosen.sum())
        self.count += int(chosen.size)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")
