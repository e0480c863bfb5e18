"""NormalMetrics against an independent atan2 angle formula, brute-force pooling and hand cases."""

import math

import numpy as np
import pytest

from components.errors import PixelpredError
from components.metrics.normals import NormalMetrics, mean_normal_direction


def random_maps(seed: int, shape: tuple = (3, 5, 6)) -> tuple[np.ndarray, np.ndarray]:
    """Unit ground truth with ~25% zero (invalid) vectors; un-normalised noisy predictions."""
    rng = np.random.default_rng(seed)
    gt = rng.normal(size=shape + (3,))
    gt /= np.linalg.norm(gt, axis=-1, keepdims=True)
    gt[rng.random(shape) < 0.25] = 0.0
    pred = (gt + rng.normal(scale=0.6, size=gt.shape)) * rng.uniform(0.1, 5.0, shape + (1,))
    return pred, gt


def brute_force_angles(pred: np.ndarray, gt: np.ndarray) -> list[float]:
    """Per-pixel loop: angle = atan2(|a x b|, a . b) in degrees, skipping zero ground-truth vectors."""
    angles = []
    for a, b in zip(pred.reshape(-1, 3).tolist(), gt.reshape(-1, 3).tolist()):
        if b == [0.0, 0.0, 0.0]:
            continue
        cross = (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])
        dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
        angles.append(math.degrees(math.atan2(math.hypot(*cross), dot)))
    return angles


def summarise(angles: list[float]) -> dict:
    """SPEC §6 normal metrics of a pooled list of angles in degrees."""
    n = len(angles)
    return {
        "mean": sum(angles) / n,
        "median": float(np.median(angles)),
        "rmse": math.sqrt(sum(a * a for a in angles) / n),
        "within_11_25": sum(a < 11.25 for a in angles) / n,
        "within_22_5": sum(a < 22.5 for a in angles) / n,
        "within_30": sum(a < 30.0 for a in angles) / n,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_pooled_angles(seed):
    pred, gt = random_maps(seed)
    metrics = NormalMetrics()
    for image in range(len(gt)):  # (H, W, 3) single images, pooled across calls
        metrics.update(pred[image], gt[image])
    scores = metrics.compute()
    expected = summarise(brute_force_angles(pred, gt))
    assert scores["median"] == pytest.approx(expected.pop("median"), abs=2e-5)  # float32 storage
    assert {k: v for k, v in scores.items() if k != "median"} == pytest.approx(expected, abs=1e-9)


def test_hand_case_90_45_0_degrees():
    gt = np.array([[[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 0]]], dtype=np.float32)
    pred = np.array([[[1, 0, 0], [1, 0, 1], [0, 0, 5], [1, 2, 3]]], dtype=np.float32)  # not unit
    metrics = NormalMetrics()
    metrics.update(pred, gt)
    scores = metrics.compute()
    assert scores["mean"] == pytest.approx(45.0, abs=1e-5)
    assert scores["median"] == pytest.approx(45.0, abs=1e-5)
    assert scores["rmse"] == pytest.approx(math.sqrt((90**2 + 45**2) / 3), abs=1e-5)
    assert scores["within_11_25"] == scores["within_22_5"] == scores["within_30"] == pytest.approx(1 / 3)
    assert metrics.num_pixels == 3  # the zero ground-truth vector is excluded


def test_pooled_over_pixels_not_averaged_per_image():
    # Image A: one valid pixel at 90 degrees. Image B: three valid pixels at 0 degrees.
    gt = np.zeros((2, 2, 2, 3))
    gt[0, 0, 0] = [1, 0, 0]
    gt[1, :, :] = [0, 1, 0]
    gt[1, 1, 1] = 0.0
    pred = np.zeros_like(gt)
    pred[0, 0, 0] = [0, 0, 2]
    pred[1, :, :] = [0, 3, 0]
    metrics = NormalMetrics()
    metrics.update(pred, gt)
    assert metrics.compute()["mean"] == pytest.approx(22.5, abs=1e-6)  # per-image averaging would give 45


def test_zero_prediction_counts_as_ninety_degrees():
    metrics = NormalMetrics()
    metrics.update(np.zeros((1, 1, 3)), np.array([[[0.0, 0.0, 1.0]]]))
    assert metrics.compute()["mean"] == pytest.approx(90.0)


def test_errors():
    metrics = NormalMetrics()
    with pytest.raises(PixelpredError):
        metrics.update(np.ones((2, 2, 3)), np.ones((2, 3, 3)))
    with pytest.raises(PixelpredError):
        metrics.update(np.ones((3, 2, 2)), np.ones((3, 2, 2)))  # channels must be last
    metrics.update(np.ones((2, 2, 3)), np.zeros((2, 2, 3)))
    with pytest.raises(PixelpredError):
        metrics.compute()  # nothing valid


def test_mean_normal_direction():
    maps = [np.array([[[0, 0, 1], [0, 0, 0]]]), np.array([[[0, 0, 2], [0, 0, 1], [3, 0, 0]]])]
    expected = np.array([1.0, 0.0, 3.0]) / math.sqrt(10)  # three up, one sideways; each counted as a unit
    np.testing.assert_allclose(mean_normal_direction(maps), expected, atol=1e-12)
    with pytest.raises(PixelpredError):
        mean_normal_direction([np.zeros((2, 2, 3))])
