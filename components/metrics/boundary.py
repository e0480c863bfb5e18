"""Boundary detection metrics (SPEC §6): BSDS500 ODS, OIS and AP (Arbelaez et al., `collect_eval_bdry`).

The matching lives in `boundary_match`; this file accumulates its counts over a dataset and
turns them into the benchmark's numbers exactly as the BSDS scripts do. No non-maximum
suppression is applied beyond thinning; feed already-suppressed maps if the protocol needs it.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Sequence

import numpy as np

from components.errors import PixelpredError
from components.metrics.boundary_match import MatchMode, image_counts


def bsds_thresholds(num_thresholds: int) -> np.ndarray:
    """Number of thresholds T -> (T,) thresholds evenly spaced strictly inside (0, 1), as in BSDS."""
    step = 1.0 / (num_thresholds + 1)
    return np.linspace(step, 1.0 - step, num_thresholds)


def _recall_precision(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts (..., 4) [cntR, sumR, cntP, sumP] -> recall, precision (...); 0 where the total is 0."""
    cnt_r, sum_r, cnt_p, sum_p = np.moveaxis(counts.astype(np.float64), -1, 0)
    return cnt_r / np.where(sum_r == 0, 1.0, sum_r), cnt_p / np.where(sum_p == 0, 1.0, sum_p)


def _f_measure(recall: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Recall, precision (...) -> harmonic mean (...), 0 where both are 0."""
    total = recall + precision
    return 2.0 * precision * recall / np.where(total == 0, 1.0, total)


def _best_interpolated_f(thresholds: np.ndarray, recall: np.ndarray,
                         precision: np.ndarray) -> tuple[float, float, float, float]:
    """PR curve (T,) each -> (F, precision, recall, threshold) of BSDS `maxF`.

    `maxF` walks 100 evenly spaced points of every segment between adjacent thresholds, keeping
    the first strict maximum of F; the flattened grid below visits them in the same order.
    """
    weight = np.linspace(0.0, 1.0, 100)

    def along_segments(values: np.ndarray) -> np.ndarray:
        # a + (b - a) d rather than BSDS's a (1 - d) + b d: equal in exact arithmetic, and flat
        # segments stay exactly flat, so ties go to the first threshold instead of rounding noise.
        inner = values[:-1, None] + (values[1:] - values[:-1])[:, None] * weight  # (T-1, 100)
        return np.concatenate([values[:1], inner.ravel()])

    grid_r, grid_p = along_segments(recall), along_segments(precision)
    f = _f_measure(grid_r, grid_p)
    best = int(np.argmax(f))
    return float(f[best]), float(grid_p[best]), float(grid_r[best]), float(along_segments(thresholds)[best])


def _average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """PR curve (T,) each -> BSDS `Area_PR`: precision interpolated at recall 0:0.01:1, summed x 0.01.

    Recalls outside the curve's range contribute 0, and a curve of one distinct recall has area 0,
    as in BSDS. For repeated recalls BSDS's MATLAB `unique` kept the last threshold's precision.
    """
    unique_recall, last = np.unique(recall[::-1], return_index=True)
    if unique_recall.size < 2:
        return 0.0
    grid = np.linspace(0.0, 1.0, 101)
    interpolated = np.interp(grid, unique_recall, precision[::-1][last], left=0.0, right=0.0)
    return float(interpolated.sum() * 0.01)


class BoundaryEvaluator:
    """Streaming BSDS benchmark: update(prob, gt) per image or batch -> compute() ODS/OIS/AP, curve() PR.

    Args:
        num_thresholds: T thresholds from `bsds_thresholds` (BSDS uses 99).
        max_dist: matching tolerance as a fraction of the image diagonal (BSDS: 0.0075).
        thin: thin each thresholded map first (`skimage.morphology.thin`, BSDS's `bwmorph thin`).
        mode: "exact" is the BSDS one-to-one matching; "fast" is an APPROXIMATE distance-transform
            test for training-time validation (no one-to-one constraint; never report it as BSDS).
        processes: images of one `update` batch are matched in this many processes (1: in this one).
    """

    def __init__(self, num_thresholds: int = 99, max_dist: float = 0.0075, thin: bool = True,
                 mode: MatchMode = "exact", processes: int = 1) -> None:
        if num_thresholds < 1:
            raise PixelpredError(f"num_thresholds must be >= 1, got {num_thresholds}")
        if not max_dist > 0:
            raise PixelpredError(f"max_dist must be > 0 (a fraction of the image diagonal), got {max_dist}")
        if mode not in ("exact", "fast"):
            raise PixelpredError(f"boundary matching mode must be 'exact' or 'fast', got {mode!r}")
        if processes < 1:
            raise PixelpredError(f"processes must be >= 1, got {processes}")
        self.thresholds = bsds_thresholds(num_thresholds)
        self.max_dist, self.thin, self.mode, self.processes = max_dist, thin, mode, processes
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.counts = np.zeros((self.thresholds.size, 4), dtype=np.int64)  # dataset sums per threshold
        self.best_counts = np.zeros(4, dtype=np.int64)  # sum of each image's counts at its best threshold
        self.num_images = 0

    def update(self, prob: np.ndarray, gt: np.ndarray) -> None:
        """Boundary probability (H, W) with annotations (K, H, W), or a batch (N, H, W) with (N, K, H, W)."""
        prob, gt = np.asarray(prob, dtype=np.float64), np.asarray(gt)
        if prob.ndim == 2 and gt.ndim == 3:
            prob, gt = prob[None], gt[None]
        if prob.ndim != 3 or gt.ndim != 4 or gt.shape[0] != prob.shape[0]:
            raise PixelpredError(f"boundary prob {prob.shape} and annotations {gt.shape} must be "
                                 "(H, W) with (K, H, W), or (N, H, W) with (N, K, H, W)")
        self.update_images(list(prob), list(gt))

    def update_images(self, probs: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> None:
        """Images of any sizes: probabilities (H_i, W_i) with annotations (K_i, H_i, W_i), matched in parallel."""
        probs = [np.asarray(prob, dtype=np.float64) for prob in probs]
        gts = [np.asarray(gt) for gt in gts]
        for prob, gt in zip(probs, gts, strict=True):
            if prob.ndim != 2 or gt.ndim != 3 or gt.shape[1:] != prob.shape:
                raise PixelpredError(f"boundary prob {prob.shape} and annotations {gt.shape} must be (H, W) with (K, H, W)")
            if gt.shape[0] == 0:
                raise PixelpredError("boundary evaluation needs at least one annotator per image")
            if not np.all((prob >= 0) & (prob <= 1)):
                raise PixelpredError("boundary probabilities must be finite and within [0, 1]")
        match = partial(image_counts, thresholds=self.thresholds, max_dist=self.max_dist, thin=self.thin, mode=self.mode)
        processes = min(self.processes, len(probs))
        if processes > 1:
            # Thinning and matching are per-image numpy/scipy work holding the GIL: processes, not threads.
            # 'spawn' children import only numpy/scipy/skimage, whatever threads the parent (torch) runs.
            with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
                per_image = list(pool.map(match, probs, gts, chunksize=max(1, len(probs) // (4 * processes))))
        else:
            per_image = [match(prob, gt) for prob, gt in zip(probs, gts)]
        for counts in per_image:
            self.counts += counts
            # OIS takes the first threshold of highest F on the discrete curve, as BSDS's `max(F)`.
            self.best_counts += counts[int(np.argmax(_f_measure(*_recall_precision(counts))))]
            self.num_images += 1

    def curve(self) -> dict[str, np.ndarray]:
        """Dataset PR curve: threshold, precision, recall, f, each (T,)."""
        if self.num_images == 0:
            raise PixelpredError("boundary metrics requested before any image was evaluated")
        recall, precision = _recall_precision(self.counts)
        return {"threshold": self.thresholds.copy(), "precision": precision, "recall": recall,
                "f": _f_measure(recall, precision)}

    def compute(self) -> dict[str, float]:
        """ODS (dataset-best F, interpolated along the curve), OIS (per-image best) and AP, as floats."""
        curve = self.curve()
        ods_f, ods_precision, ods_recall, ods_threshold = _best_interpolated_f(
            curve["threshold"], curve["recall"], curve["precision"])
        ois_recall, ois_precision = _recall_precision(self.best_counts)
        return {"ods_f": ods_f, "ods_precision": ods_precision, "ods_recall": ods_recall,
                "ods_threshold": ods_threshold, "ois_f": float(_f_measure(ois_recall, ois_precision)),
                "ois_precision": float(ois_precision), "ois_recall": float(ois_recall),
                "ap": _average_precision(curve["recall"], curve["precision"])}
