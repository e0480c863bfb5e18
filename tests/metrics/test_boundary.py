"""BSDS boundary benchmark: hand-made cases, brute-force matchings (scipy's dense assignment), BSDS formulas."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from skimage.draw import disk
from skimage.morphology import thin
from skimage.segmentation import find_boundaries

from components.errors import PixelpredError
from components.metrics.boundary import (BoundaryEvaluator, _average_precision, _best_interpolated_f,
                                         bsds_thresholds)
from components.metrics.boundary_match import image_counts, match_pixels, max_cardinality_min_cost_matching

H, W = 96, 128  # tolerance 0.0075 * 160 = 1.2 px: 4-neighbours match, diagonals do not


def _lines(*segments: tuple[int, int, int]) -> np.ndarray:
    """Horizontal segments (row, first col, last col) -> (H, W) bool map."""
    image = np.zeros((H, W), dtype=bool)
    for row, first, last in segments:
        image[row, first:last + 1] = True
    return image


def _scene(seed: int, annotators: int = 1, jitter: int = 0) -> np.ndarray:
    """Thin boundaries of random disks, one (H, W) map per annotator shifted by up to `jitter` px -> (K, H, W)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((H, W), dtype=np.int64)
    for label in range(1, 6):
        rows, cols = disk((rng.integers(20, H - 20), rng.integers(20, W - 20)), rng.integers(6, 18), shape=(H, W))
        labels[rows, cols] = label
    boundary = thin(find_boundaries(labels, mode="inner"))
    shifts = rng.integers(-jitter, jitter + 1, size=(annotators, 2))
    return np.stack([np.roll(boundary, tuple(shift), axis=(0, 1)) for shift in shifts])


def _evaluate(prob: np.ndarray, gt: np.ndarray, **options) -> dict[str, float]:
    evaluator = BoundaryEvaluator(**options)
    evaluator.update(prob, gt)
    return evaluator.compute()


def _reference_matching(pred: np.ndarray, gt: np.ndarray, radius: float) -> tuple[int, float]:
    """Dense assignment with a prohibitive cost off-tolerance -> (size, total distance) of the best matching."""
    distance = cdist(np.argwhere(pred), np.argwhere(gt))
    if distance.size == 0:
        return 0, 0.0
    # 1e6 exceeds any total in-tolerance distance here, so the assignment first minimises the
    # number of off-tolerance pairs (maximum matching), then the distance among those.
    rows, cols = linear_sum_assignment(np.where(distance <= radius, distance, 1e6))
    kept = distance[rows, cols] <= radius
    return int(kept.sum()), float(distance[rows, cols][kept].sum())


@pytest.mark.parametrize("seed", range(20))
def test_matching_is_max_cardinality_min_cost_on_random_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_left, n_right = rng.integers(1, 12, size=2)
    cost = np.where(rng.random((n_left, n_right)) < 0.3, rng.random((n_left, n_right)) * 5, np.inf)
    left, right = np.nonzero(np.isfinite(cost))
    matched_left, matched_right = max_cardinality_min_cost_matching(left, right, cost[left, right])
    assert len(set(matched_left)) == len(matched_left) and len(set(matched_right)) == len(matched_right)
    assert np.isfinite(cost[matched_left, matched_right]).all()
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
    kept = np.isfinite(cost[rows, cols])
    assert len(matched_left) == kept.sum()
    assert cost[matched_left, matched_right].sum() == pytest.approx(cost[rows, cols][kept].sum())


@pytest.mark.parametrize("seed", range(6))
def test_counts_equal_brute_force_matching_at_every_threshold(seed: int) -> None:
    rng = np.random.default_rng(seed)
    prob = rng.random((12, 12))
    gt = rng.random((2, 12, 12)) < 0.2
    max_dist = 0.15  # 2.55 px on 12 x 12: distances 0, 1, 1.41, 2, 2.24 all compete
    radius = max_dist * np.hypot(12, 12)
    thresholds = bsds_thresholds(99)
    single = image_counts(prob, gt[:1], thresholds, max_dist=max_dist)
    double = image_counts(prob, gt, thresholds, max_dist=max_dist)
    fast = image_counts(prob, gt, thresholds, max_dist=max_dist, mode="fast")
    for t, threshold in enumerate(thresholds):
        pred = thin(prob >= threshold)
        sizes = []
        for annotation in gt:
            size, total = _reference_matching(pred, annotation, radius)
            pairs = match_pixels(pred, annotation, radius)
            assert pairs.shape[0] == size
            assert np.hypot(*(pairs[:, :2] - pairs[:, 2:]).T).sum() == pytest.approx(total)
            sizes.append(size)
        assert single[t].tolist() == [sizes[0], gt[0].sum(), sizes[0], pred.sum()]
        assert double[t, :2].tolist() == [sum(sizes), gt.sum()] and double[t, 3] == pred.sum()
        # With two annotators cntP is a union whose size depends on ties between optimal matchings.
        assert max(sizes) <= double[t, 2] <= min(pred.sum(), sum(sizes))
        # Fast mode: any pixel of the other map within the radius, no one-to-one constraint.
        near = [cdist(np.argwhere(pred), np.argwhere(annotation)) <= radius for annotation in gt]
        fast_recall = sum(int(close.any(0).sum()) for close in near)
        fast_precision = int(np.logical_or(*[close.any(1) for close in near]).sum())
        assert fast[t].tolist() == [fast_recall, gt.sum(), fast_precision, pred.sum()]


def test_perfect_prediction_scores_one() -> None:
    gt = _scene(0)
    result = _evaluate(gt[0].astype(float), gt)
    assert result["ods_f"] == result["ois_f"] == 1.0
    assert result["ods_precision"] == result["ods_recall"] == 1.0


def test_one_pixel_shift_is_within_tolerance() -> None:
    gt = _scene(1)
    assert _evaluate(np.roll(gt[0], 1, axis=1).astype(float), gt)["ods_f"] == 1.0


def test_shift_beyond_tolerance_scores_zero() -> None:
    gt = _lines((20, 10, 110), (60, 10, 110))[None]
    prob = np.roll(gt[0], 10, axis=0).astype(float)
    for mode in ("exact", "fast"):
        result = _evaluate(prob, gt, mode=mode)
        assert result["ods_f"] == result["ods_recall"] == result["ois_f"] == 0.0


def test_empty_prediction_has_zero_recall() -> None:
    evaluator = BoundaryEvaluator()
    evaluator.update(np.zeros((H, W)), _scene(2))
    assert not evaluator.curve()["recall"].any()
    assert evaluator.compute()["ods_f"] == evaluator.compute()["ap"] == 0.0


def test_doubled_line_is_matched_one_to_one() -> None:
    gt = _lines((40, 10, 109))[None]
    prob = (_lines((40, 10, 109)) | _lines((41, 10, 109))).astype(float)
    exact = _evaluate(prob, gt, thin=False)
    assert exact["ods_precision"] == 0.5 and exact["ods_recall"] == 1.0
    assert _evaluate(prob, gt, thin=False, mode="fast")["ods_precision"] == 1.0  # not one-to-one
    thinned = _evaluate(prob, gt, thin=True)
    assert thinned["ods_precision"] > 0.95 and thinned["ods_recall"] > 0.95


def test_two_annotators_accumulate_as_bsds() -> None:
    first = _lines((10, 5, 24))                    # 20 px, all within 1 px of the prediction
    second = _lines((12, 5, 14), (80, 100, 109))   # 10 px within 1 px, 10 px far away
    pred = _lines((11, 5, 24), (50, 5, 9))         # 20 px near both annotators, 5 px far from both
    counts = image_counts(pred.astype(float), np.stack([first, second]), bsds_thresholds(99))
    # cntR = 20 + 10; sumR = 20 + 20; cntP counts a pixel matched by either annotator once.
    assert (counts == [30, 40, 20, 25]).all()
    result = _evaluate(pred.astype(float), np.stack([first, second]))
    assert result["ods_recall"] == pytest.approx(0.75) and result["ods_precision"] == pytest.approx(0.8)
    assert result["ods_f"] == pytest.approx(2 * 0.75 * 0.8 / 1.55)


def test_ods_and_ois_on_hand_made_dataset() -> None:
    # Image A: the right line (0.805) and a far false line (0.355): best above 0.355, F = 1.
    prob_a = 0.805 * _lines((20, 10, 59)) + 0.355 * _lines((70, 10, 59))
    # Image B: half the line at 0.905, the other half at 0.255: best below 0.255, F = 1.
    prob_b = 0.905 * _lines((20, 10, 59)) + 0.255 * _lines((20, 60, 109))
    gt = np.stack([_lines((20, 10, 59))[None], _lines((20, 10, 109))[None]])
    evaluator = BoundaryEvaluator()
    evaluator.update(np.stack([prob_a, prob_b]), gt)
    result = evaluator.compute()
    assert result["ois_f"] == 1.0
    # Dataset curve: (R, P) = (1, 150/200) below 0.255, then (2/3, 2/3), (2/3, 1), (1/3, 1), (0, 0).
    assert result["ods_f"] == pytest.approx(6 / 7)
    assert result["ods_threshold"] == pytest.approx(0.01)
    curve = evaluator.curve()
    assert curve["f"].max() == pytest.approx(6 / 7) and curve["f"][-1] == 0.0


def test_batch_update_equals_image_updates() -> None:
    rng = np.random.default_rng(3)
    gt = np.stack([_scene(seed, annotators=2, jitter=1) for seed in (4, 5)])
    prob = np.clip(gt.mean(1) * 0.8 + 0.3 * rng.random((2, H, W)), 0, 1)
    batch, single = BoundaryEvaluator(num_thresholds=15), BoundaryEvaluator(num_thresholds=15)
    batch.update(prob, gt)
    for image_prob, image_gt in zip(prob, gt):
        single.update(image_prob, image_gt)
    assert (batch.counts == single.counts).all() and (batch.best_counts == single.best_counts).all()
    assert batch.compute() == single.compute()


def test_images_of_different_sizes_match_the_same_in_parallel_processes() -> None:
    rng = np.random.default_rng(8)
    images = []
    for seed, (height, width) in zip((4, 5, 6), ((H, W), (80, 100), (64, W))):
        gt = _scene(seed, annotators=2, jitter=1)[:, :height, :width]
        images.append((np.clip(gt.mean(0) * 0.8 + 0.3 * rng.random((height, width)), 0, 1), gt))
    serial, parallel = BoundaryEvaluator(num_thresholds=15), BoundaryEvaluator(num_thresholds=15, processes=2)
    for prob, gt in images:
        serial.update(prob, gt)
    parallel.update_images([prob for prob, _ in images], [gt for _, gt in images])
    assert (parallel.counts == serial.counts).all() and parallel.num_images == 3
    assert parallel.compute() == serial.compute()


def _bsds_max_f(thresholds: np.ndarray, recall: np.ndarray, precision: np.ndarray) -> tuple[float, ...]:
    """Literal loop transcription of BSDS `maxF` (reference)."""
    f0 = 2 * precision[0] * recall[0] / (precision[0] + recall[0]) if precision[0] + recall[0] > 0 else 0.0
    best = (f0, precision[0], recall[0], thresholds[0])
    for i in range(1, len(thresholds)):
        for d in np.linspace(0, 1, 100):
            r = recall[i] * d + recall[i - 1] * (1 - d)
            p = precision[i] * d + precision[i - 1] * (1 - d)
            f = 2 * p * r / (p + r) if p + r > 0 else 0.0
            if f > best[0]:
                best = (f, p, r, thresholds[i] * d + thresholds[i - 1] * (1 - d))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_interpolated_best_f_equals_bsds_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    thresholds = bsds_thresholds(9)
    recall, precision = np.sort(rng.random(9))[::-1], np.sort(rng.random(9))
    assert _best_interpolated_f(thresholds, recall, precision) == pytest.approx(
        _bsds_max_f(thresholds, recall, precision))


def test_average_precision_by_hand() -> None:
    # Unique recalls 0, 0.5, 1 with precisions 1, 1, 0.5: 51 grid points at 1, then 1 - (r - 0.5).
    recall, precision = np.array([1.0, 0.5, 0.5, 0.0]), np.array([0.5, 0.9, 1.0, 1.0])
    assert _average_precision(recall, precision) == pytest.approx(0.8825)
    assert _average_precision(np.full(4, 0.7), np.ones(4)) == 0.0  # a single recall has no area


def test_graded_perfect_detector_has_ap_near_one() -> None:
    gt = _scene(6)
    prob = gt[0] * np.random.default_rng(6).uniform(0.01, 1.0, size=(H, W))
    result = _evaluate(prob, gt)
    assert result["ods_f"] == 1.0
    assert 0.95 <= result["ap"] <= 1.01  # BSDS sums 101 grid points x 0.01, so 1.01 is its maximum


def test_single_image_ods_bounds_ois() -> None:
    gt = _scene(7, annotators=3, jitter=1)
    prob = np.clip(gt.mean(0) + 0.4 * np.random.default_rng(7).random((H, W)), 0, 1)
    evaluator = BoundaryEvaluator(num_thresholds=25)
    evaluator.update(prob, gt)
    result = evaluator.compute()
    # One image: OIS is the discrete curve's best F, and ODS maximises over a superset of points.
    assert result["ois_f"] == pytest.approx(evaluator.curve()["f"].max())
    assert result["ods_f"] >= result["ois_f"]
    assert 0.0 <= result["ap"] <= 1.0


def test_fast_mode_bounds_exact_mode_and_is_faster() -> None:
    rng = np.random.default_rng(8)
    gt = _scene(8, annotators=3, jitter=1)
    prob = np.clip(gt.mean(0) + 0.5 * rng.random((H, W)) * (rng.random((H, W)) < 0.1), 0, 1)
    thresholds = bsds_thresholds(20)
    seconds, counts, results = {}, {}, {}
    for mode in ("exact", "fast"):
        start = time.perf_counter()
        counts[mode] = image_counts(prob, gt, thresholds, thin=False, mode=mode)
        seconds[mode] = time.perf_counter() - start
        results[mode] = _evaluate(prob, gt, num_thresholds=20, mode=mode)
    # Every one-to-one match is a within-tolerance pair, so fast counts can only be larger.
    assert (counts["fast"] >= counts["exact"]).all()
    assert abs(results["fast"]["ods_f"] - results["exact"]["ods_f"]) < 0.1
    assert seconds["fast"] < seconds["exact"]


@pytest.mark.parametrize("prob_shape, gt_shape", [((H, W), (H, W)), ((2, H, W), (3, 1, H, W)),
                                                  ((H, W), (1, H, W + 1)), ((H, W), (0, H, W))])
def test_rejects_mismatched_shapes(prob_shape: tuple[int, ...], gt_shape: tuple[int, ...]) -> None:
    with pytest.raises(PixelpredError):
        BoundaryEvaluator().update(np.zeros(prob_shape), np.zeros(gt_shape))


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_rejects_probabilities_outside_unit_interval(bad: float) -> None:
    with pytest.raises(PixelpredError, match="within"):
        BoundaryEvaluator().update(np.full((H, W), bad), np.zeros((1, H, W)))


def test_rejects_bad_options_and_early_compute() -> None:
    for options in ({"mode": "approximate"}, {"num_thresholds": 0}, {"max_dist": 0.0}):
        with pytest.raises(PixelpredError):
            BoundaryEvaluator(**options)
    with pytest.raises(PixelpredError, match="before any image"):
        BoundaryEvaluator().compute()
