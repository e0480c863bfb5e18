"""BSDS boundary correspondence (Arbelaez et al., `correspondPixels` + `evaluation_bdry_image`).

Per image and threshold: binarise the boundary probability, thin it, and match its pixels to
each annotator's boundary pixels within a tolerance of `max_dist` x image diagonal. The exact
mode solves a one-to-one matching; the fast mode is an approximate distance-transform check.
No non-maximum suppression is applied beyond thinning.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from skimage.morphology import thin as thin_boundaries

MatchMode = Literal["exact", "fast"]


@lru_cache(maxsize=8)
def _tolerance_offsets(radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tolerance radius -> (dy, dx, distance) of every integer offset within it, each (O,)."""
    reach = int(np.floor(radius))
    dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1].reshape(2, -1)
    distance = np.hypot(dy, dx)
    within = distance <= radius
    return dy[within], dx[within], distance[within]


def max_cardinality_min_cost_matching(left: np.ndarray, right: np.ndarray,
                                      cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate edges (E,) left id, right id, cost >= 0 -> matched (left ids, right ids), each (M,).

    Among the one-to-one matchings of largest size, returns one of minimum total cost.
    """
    if left.size == 0:
        return left[:0], right[:0]
    # Only vertices with a candidate edge can be matched, so work on compact ids of those.
    left_ids, left = np.unique(left, return_inverse=True)
    right_ids, right = np.unique(right, return_inverse=True)
    n_left, n_right, n_edges = left_ids.size, right_ids.size, left.size
    # Outlier construction: rows = [left, right-dummies], columns = [right, left-dummies].
    # Every vertex may pair with its own dummy at cost `outlier` (it stays unmatched); a mirror
    # edge dummy(right j) - dummy(left i) per real edge (i, j) lets dummies of matched vertices
    # pair up for free, so a perfect matching always exists and equals a matching of the input.
    # Each extra real match saves 2 * outlier, more than any matching's total cost
    # (< min(n_left, n_right) * max cost + 1), so the optimum has maximum cardinality first.
    outlier = min(n_left, n_right) * float(cost.max()) + 1.0
    rows = np.concatenate([left, np.arange(n_left), n_left + np.arange(n_right), n_left + right])
    cols = np.concatenate([right, n_right + np.arange(n_left), np.arange(n_right), n_right + left])
    weight = np.concatenate([cost, np.full(n_left + n_right, outlier), np.zeros(n_edges)])
    # scipy treats every stored entry as an edge but documents non-zero weights only; a constant
    # shift leaves the optimum unchanged because every perfect matching has n_left + n_right edges.
    size = n_left + n_right
    order = np.argsort(rows, kind="stable")  # CSR built directly: cheaper than a COO conversion
    row_start = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=size))])
    graph = sparse.csr_matrix((weight[order] + 1.0, cols[order], row_start), shape=(size, size))
    row, col = min_weight_full_bipartite_matching(graph)
    real = (row < n_left) & (col < n_right)
    return left_ids[row[real]], right_ids[col[real]]


def match_pixels(pred: np.ndarray, gt: np.ndarray, radius: float) -> np.ndarray:
    """Boundary maps pred, gt (H, W) bool -> matched pairs (M, 4) int [y_pred, x_pred, y_gt, x_gt].

    One-to-one matching of maximum size among pixel pairs at distance <= radius, with minimum
    total distance among those (the matching `correspondPixels` approximates with outlier costs).
    """
    height, width = pred.shape
    dy, dx, distance = _tolerance_offsets(radius)
    reach = int(np.floor(radius))
    pred_y, pred_x = np.nonzero(pred)
    gt_y, gt_x = np.nonzero(gt)
    # A padded map of gt pixel ids turns the neighbour search into one gather: (n_pred, O) ids.
    gt_id = np.full((height + 2 * reach, width + 2 * reach), -1, dtype=np.int64)
    gt_id[gt_y + reach, gt_x + reach] = np.arange(gt_y.size)
    candidate = gt_id[pred_y[:, None] + reach + dy, pred_x[:, None] + reach + dx]
    pred_index, offset_index = np.nonzero(candidate >= 0)
    matched_pred, matched_gt = max_cardinality_min_cost_matching(
        pred_index, candidate[pred_index, offset_index], distance[offset_index])
    return np.stack([pred_y[matched_pred], pred_x[matched_pred], gt_y[matched_gt], gt_x[matched_gt]], axis=1)


def _distance_to(boundary: np.ndarray) -> np.ndarray:
    """Boundary map (H, W) bool -> Euclidean distance of every pixel to its nearest boundary pixel (H, W)."""
    if not boundary.any():
        return np.full(boundary.shape, np.inf)
    return ndimage.distance_transform_edt(~boundary)


def _exact_counts(pred: np.ndarray, gt: np.ndarray, radius: float) -> tuple[int, int]:
    """pred (H, W), gt (K, H, W) bool -> (cntR: gt pixels matched, summed over annotators; cntP)."""
    matched_pred = np.zeros(pred.shape, dtype=bool)  # a predicted pixel may match any annotator
    matched_gt = 0
    for annotation in gt:
        pairs = match_pixels(pred, annotation, radius)
        matched_pred[pairs[:, 0], pairs[:, 1]] = True
        matched_gt += pairs.shape[0]
    return matched_gt, int(matched_pred.sum())


def image_counts(prob: np.ndarray, gt: np.ndarray, thresholds: np.ndarray, max_dist: float = 0.0075,
                 thin: bool = True, mode: MatchMode = "exact") -> np.ndarray:
    """prob (H, W) in [0, 1], gt (K, H, W) 0/1, thresholds (T,) -> counts (T, 4) [cntR, sumR, cntP, sumP].

    mode "exact" is the BSDS protocol. mode "fast" is APPROXIMATE (for training-time validation):
    a pixel counts as matched when any pixel of the other map lies within the tolerance, with no
    one-to-one constraint, so doubled or clustered predictions are not penalised.
    """
    gt = gt != 0
    radius = max_dist * float(np.hypot(*prob.shape))
    if mode == "fast":
        near_gt = np.min([_distance_to(annotation) for annotation in gt], axis=0) <= radius
    counts = np.zeros((thresholds.size, 4), dtype=np.int64)
    counts[:, 1] = gt.sum()
    # Thresholded maps are nested, so a threshold that keeps as many pixels as the previous one
    # gives the same map, and its counts are reused instead of thinned and matched again.
    kept = prob.size - np.searchsorted(np.sort(prob, axis=None), thresholds, side="left")
    for t, threshold in enumerate(thresholds):
        if t > 0 and kept[t] == kept[t - 1]:
            counts[t] = counts[t - 1]
            continue
        pred = prob >= threshold
        if thin:
            pred = thin_boundaries(pred)
        if mode == "exact":
            counts[t, 0], counts[t, 2] = _exact_counts(pred, gt, radius)
        else:
            counts[t, 0] = (gt & (_distance_to(pred) <= radius)).sum()
            counts[t, 2] = (pred & near_gt).sum()
        counts[t, 3] = pred.sum()
    return counts
