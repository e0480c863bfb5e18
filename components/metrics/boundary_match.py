"""BSDS boundary correspondence (Arbelaez et al., `correspondPixels` + `evaluation_bdry_image`).

Per image and threshold: binarise the boundary probability, thin it, and match its pixels to
each annotator's boundary pixels within a tolerance of `max_dist` x image diagonal. The exact
mode solves a one-to-one matching; the fast mode is an approximate check that some pixel of
the other map lies within the tolerance (a distance-transform test, without one-to-one).
No non-maximum suppression is applied beyond thinning.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import sparse
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
    # Any matching's total cost is below `outlier`, while one more real match saves 2 * outlier,
    # so the optimum has maximum cardinality first and minimum cost among those.
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


def _padded(image: np.ndarray, radius: float, fill: int = 0) -> np.ndarray:
    """Map (H, W) -> flattened map padded by the tolerance reach, ((H + 2 reach) * (W + 2 reach),)."""
    return np.pad(image, int(np.floor(radius)), constant_values=fill).ravel()


def _neighbourhoods(rows: np.ndarray, cols: np.ndarray, width: int, radius: float) -> np.ndarray:
    """Pixels (P,) rows and cols, image width -> (P, O) flat indices into `_padded` of their in-tolerance offsets."""
    dy, dx, _ = _tolerance_offsets(radius)
    reach = int(np.floor(radius))
    return (rows[:, None] + reach + dy) * (width + 2 * reach) + (cols[:, None] + reach + dx)


def match_pixels(pred: np.ndarray, gt: np.ndarray, radius: float) -> np.ndarray:
    """Boundary maps pred, gt (H, W) bool -> matched pairs (M, 4) int [y_pred, x_pred, y_gt, x_gt].

    One-to-one matching of maximum size among pixel pairs at distance <= radius, with minimum
    total distance among those (the matching `correspondPixels` approximates with outlier costs).
    """
    pred_y, pred_x = np.nonzero(pred)
    gt_y, gt_x = np.nonzero(gt)
    gt_id = np.full(gt.shape, -1, dtype=np.int64)
    gt_id[gt_y, gt_x] = np.arange(gt_y.size)
    # One gather finds every candidate: the gt id (or -1) at each in-tolerance offset, (n_pred, O).
    candidate = _padded(gt_id, radius, fill=-1)[_neighbourhoods(pred_y, pred_x, gt.shape[1], radius)]
    pred_index, offset_index = np.nonzero(candidate >= 0)
    matched_pred, matched_gt = max_cardinality_min_cost_matching(
        pred_index, candidate[pred_index, offset_index], _tolerance_offsets(radius)[2][offset_index])
    return np.stack([pred_y[matched_pred], pred_x[matched_pred], gt_y[matched_gt], gt_x[matched_gt]], axis=1)


def _exact_counts(pred: np.ndarray, gt: np.ndarray, radius: float) -> tuple[int, int]:
    """pred (H, W), gt (K, H, W) bool -> (cntR: gt pixels matched, summed over annotators; cntP)."""
    matched_pred = np.zeros(pred.shape, dtype=bool)  # a predicted pixel may match any annotator
    matched_gt = 0
    for annotation in gt:
        pairs = match_pixels(pred, annotation, radius)
        matched_pred[pairs[:, 0], pairs[:, 1]] = True
        matched_gt += pairs.shape[0]
    return matched_gt, int(matched_pred.sum())


def _fast_setup(gt: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """gt (K, H, W) bool -> pixels within tolerance of any annotator (H, W), gt pixels' neighbourhoods (sum gt, O)."""
    width = gt.shape[2]
    every_row, every_col = np.indices(gt.shape[1:]).reshape(2, -1)
    near_gt = _padded(gt.any(0), radius)[_neighbourhoods(every_row, every_col, width, radius)].any(1)
    _, gt_y, gt_x = np.nonzero(gt)
    return near_gt.reshape(gt.shape[1:]), _neighbourhoods(gt_y, gt_x, width, radius)


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
        near_gt, gt_neighbourhoods = _fast_setup(gt, radius)
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
            counts[t, 0] = _padded(pred, radius)[gt_neighbourhoods].any(1).sum()
            counts[t, 2] = (pred & near_gt).sum()
        counts[t, 3] = pred.sum()
    return counts
