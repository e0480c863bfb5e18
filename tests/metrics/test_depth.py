"""DepthMetrics against brute-force per-pixel loops and hand-computed cases."""

import math

import numpy as np
import pytest

from components.errors import PixelpredError
from components.metrics.depth import DepthMetrics, median_valid_depth

NAMES = ("delta1", "delta2", "delta3", "abs_rel", "sq_rel", "rmse", "rmse_log", "log10")


def random_maps(seed: int, shape: tuple = (4, 6, 7)) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth in (0.5, 12) m with ~20% invalid zeros (image 2 fully invalid); noisy predictions."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.5, 12.0, shape)
    gt[rng.random(shape) < 0.2] = 0.0
    gt[2] = 0.0
    pred = gt * rng.uniform(0.6, 1.6, shape) + rng.uniform(-0.3, 0.3, shape)
    pred[0, 0, :3] = [0.0, -1.0, 50.0]  # out-of-range predictions get clipped
    return pred, gt


def brute_force_scores(pred: np.ndarray, gt: np.ndarray, min_depth: float, max_depth: float) -> dict:
    """Loop over images and pixels with math-module formulas; average per-image values over images."""
    per_image = []
    for pred_map, gt_map in zip(pred.tolist(), gt.tolist()):
        pairs = []
        for p_row, g_row in zip(pred_map, gt_map):
            for p, g in zip(p_row, g_row):
                if g > 0 and min_depth <= g <= max_depth:
                    pairs.append((min(max(p, min_depth), max_depth), g))
        if not pairs:
            continue
        n = len(pairs)
        ratios = [max(p / g, g / p) for p, g in pairs]
        per_image.append({
            "delta1": sum(r < 1.25 for r in ratios) / n,
            "delta2": sum(r < 1.25**2 for r in ratios) / n,
            "delta3": sum(r < 1.25**3 for r in ratios) / n,
            "abs_rel": sum(abs(p - g) / g for p, g in pairs) / n,
            "sq_rel": sum((p - g) ** 2 / g for p, g in pairs) / n,
            "rmse": math.sqrt(sum((p - g) ** 2 for p, g in pairs) / n),
            "rmse_log": math.sqrt(sum((math.log(p) - math.log(g)) ** 2 for p, g in pairs) / n),
            "log10": sum(abs(math.log10(p) - math.log10(g)) for p, g in pairs) / n,
        })
    scores = {name: sum(image[name] for image in per_image) / len(per_image) for name in NAMES}
    return scores | {"num_images": float(len(per_image)), "num_skipped_images": float(len(pred) - len(per_image))}


@pytest.mark.parametrize("seed, min_depth, max_depth", [(0, 1e-3, math.inf), (1, 1.0, 10.0), (2, 0.7, 8.0)])
def test_matches_brute_force_loop(seed, min_depth, max_depth):
    pred, gt = random_maps(seed)
    metrics = DepthMetrics(min_depth, max_depth)
    metrics.update(pred, gt)
    assert metrics.compute() == pytest.approx(brute_force_scores(pred, gt, min_depth, max_depth), rel=1e-12)


def test_scaled_prediction_hand_case():
    gt = np.random.default_rng(3).uniform(0.5, 10.0, (2, 5, 5))
    metrics = DepthMetrics()
    metrics.update(gt * 1.2, gt)
    scores = metrics.compute()
    assert scores["delta1"] == scores["delta2"] == scores["delta3"] == 1.0  # ratio 1.2 < 1.25
    assert scores["abs_rel"] == pytest.approx(0.2, abs=1e-14)
    assert scores["rmse_log"] == pytest.approx(math.log(1.2), abs=1e-14)
    assert scores["log10"] == pytest.approx(math.log10(1.2), abs=1e-14)
    expected_sq_rel = np.mean([0.04 * image.mean() for image in gt])
    assert scores["sq_rel"] == pytest.approx(expected_sq_rel, rel=1e-12)


def test_averages_per_image_not_pooled():
    # Image A: one valid pixel, abs rel 1. Image B: nine valid pixels, all exact.
    gt = np.zeros((2, 3, 3))
    gt[0, 0, 0] = 1.0
    gt[1] = 2.0
    pred = gt.copy()
    pred[0, 0, 0] = 2.0
    metrics = DepthMetrics()
    metrics.update(pred, gt)
    scores = metrics.compute()
    assert scores["abs_rel"] == pytest.approx((1.0 + 0.0) / 2)  # per image; pooling would give 1/10
    assert scores["delta1"] == pytest.approx(0.5)  # pooling would give 0.9
    assert scores["rmse"] == pytest.approx(0.5)  # pooling would give sqrt(1/10)


def test_batchwise_and_shapes_equal_one_shot():
    pred, gt = random_maps(4)
    one_shot, batchwise, channelled = DepthMetrics(), DepthMetrics(), DepthMetrics()
    one_shot.update(pred, gt)
    for image in range(len(gt)):
        batchwise.update(pred[image], gt[image])  # (H, W) is one image
    channelled.update(pred[:, None].astype(np.float32), gt[:, None].astype(np.float32))  # (N, 1, H, W)
    assert batchwise.compute() == pytest.approx(one_shot.compute(), rel=1e-12)
    assert channelled.compute() == pytest.approx(one_shot.compute(), rel=1e-5)
    assert one_shot.compute()["num_images"] == 3.0
    assert one_shot.compute()["num_skipped_images"] == 1.0


def test_errors():
    with pytest.raises(PixelpredError):
        DepthMetrics(min_depth=0.0)
    metrics = DepthMetrics()
    with pytest.raises(PixelpredError):
        metrics.update(np.ones((2, 3)), np.ones((3, 2)))
    metrics.update(np.ones((2, 2)), np.zeros((2, 2)))  # no valid pixel: skipped
    with pytest.raises(PixelpredError):
        metrics.compute()


def test_median_valid_depth():
    _, gt = random_maps(5)
    pooled = [g for g in gt.ravel().tolist() if 1.0 <= g <= 10.0]
    assert median_valid_depth(gt, 1.0, 10.0) == pytest.approx(float(np.median(pooled)), abs=0)
    assert median_valid_depth([np.array([[0.0, 3.0]]), np.array([[1.0, 0.0, 2.0]])]) == 2.0
    with pytest.raises(PixelpredError):
        median_valid_depth([np.zeros((2, 2))])
