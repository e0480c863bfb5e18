"""Video object segmentation scores with the DAVIS-2017 semi-supervised conventions (thesis §7.3.1, Table 7.1).

Per object and frame: J, the region IoU (an empty union scores 1), and F, the boundary F-measure: one-pixel
boundaries (a pixel differing from its east, south or south-east neighbour), each matched within a disk of
radius ceil(0.008 * image diagonal) of the other (8 px at 854 x 480); exactly one empty boundary scores 0,
both empty 1. The first frame (given) and the last are not scored. Per object over its frames: mean, recall
(the fraction of frames above 0.5) and decay (the mean of the first quarter of the frames minus that of the
last, the quarters' bounds shared as in the official code). Overall: each statistic averaged over objects, and
J&F = the mean of the J and F means.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import binary_dilation

BOUNDARY_TOLERANCE = 0.008    # of the image diagonal
RECALL_THRESHOLD = 0.5


def region_similarity(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Boolean masks (H, W) -> J = |P & G| / |P | G|, 1 when both are empty."""
    union = np.logical_or(prediction, truth).sum()
    return 1.0 if union == 0 else float(np.logical_and(prediction, truth).sum() / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Boolean mask (H, W) -> its one-pixel boundary: pixels whose east, south or south-east neighbour differs
    (outside the image a neighbour is taken equal to the pixel, so the image border is no boundary)."""
    padded = np.pad(mask, ((0, 1), (0, 1)), mode="edge")
    east, south, south_east = padded[:-1, 1:], padded[1:, :-1], padded[1:, 1:]
    return (mask ^ east) | (mask ^ south) | (mask ^ south_east)


def _disk(radius: int) -> np.ndarray:
    steps = np.arange(-radius, radius + 1)
    return steps[:, None] ** 2 + steps[None, :] ** 2 <= radius ** 2


def boundary_tolerance(height: int, width: int) -> int:
    """Matching radius in pixels: ceil(0.008 * diagonal)."""
    return math.ceil(BOUNDARY_TOLERANCE * math.hypot(height, width))


def boundary_measure(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Boolean masks (H, W) -> F = 2PR / (P + R) of their boundaries matched within `boundary_tolerance`."""
    predicted, true = boundary_map(prediction), boundary_map(truth)
    if not predicted.any() or not true.any():
        return float(predicted.any() == true.any())          # both empty: 1; exactly one: 0
    disk = _disk(boundary_tolerance(*prediction.shape))
    precision = (predicted & binary_dilation(true, disk)).sum() / predicted.sum()
    recall = (true & binary_dilation(predicted, disk)).sum() / true.sum()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def object_statistics(scores: np.ndarray) -> dict[str, float]:
    """One object's per-frame scores (the scored frames, in order) -> mean, recall and decay."""
    scores = np.asarray(scores, dtype=np.float64)
    # Four quarters whose bounds are shared, as in the official code: indices round(linspace(1, N, 5)) - 1.
    bounds = np.round(np.linspace(1, len(scores), 5) + 1e-10).astype(int) - 1
    quarters = [scores[bounds[i]:bounds[i + 1] + 1] for i in range(4)]
    return {"mean": float(np.nanmean(scores)), "recall": float(np.nanmean(scores > RECALL_THRESHOLD)),
            "decay": float(np.nanmean(quarters[0]) - np.nanmean(quarters[3]))}


def clip_scores(predicted: np.ndarray, truth: np.ndarray) -> dict[int, dict[str, dict[str, float]]]:
    """Label maps (T, H, W) of one clip (0 = background; the objects: the ids in the first true frame) ->
    {object id: {"J": statistics, "F": statistics}} over frames 1..T-2."""
    if predicted.shape != truth.shape or truth.shape[0] < 3:
        raise ValueError(f"need equal label maps of >= 3 frames, got {predicted.shape} and {truth.shape}")
    objects = [int(i) for i in np.unique(truth[0]) if i != 0]
    frames = range(1, truth.shape[0] - 1)
    return {obj: {"J": object_statistics([region_similarity(predicted[t] == obj, truth[t] == obj) for t in frames]),
                  "F": object_statistics([boundary_measure(predicted[t] == obj, truth[t] == obj) for t in frames])}
            for obj in objects}


def overall_scores(objects: list[dict[str, dict[str, float]]]) -> dict[str, float]:
    """Every object's {"J": ..., "F": ...} statistics (all clips) -> J_mean, J_recall, J_decay, the same for F,
    averaged over objects, and jf_mean = (J_mean + F_mean) / 2."""
    result = {f"{measure}_{stat}": float(np.mean([o[measure][stat] for o in objects]))
              for measure in ("J", "F") for stat in ("mean", "recall", "decay")}
    return {**result, "jf_mean": (result["J_mean"] + result["F_mean"]) / 2}
