"""Restoration PSNR/SSIM against scikit-image and hand-computed cases."""

import math

import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from components.errors import PixelpredError
from components.metrics.restoration import MAX_PSNR, mean_scores, psnr, restoration_scores, rgb_to_y, ssim


def skimage_ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """The reference: Wang et al.'s Gaussian SSIM as configured in SPEC §6 (per-channel mean for RGB)."""
    channel_axis = -1 if pred.ndim == 3 else None
    return structural_similarity(pred.astype(np.float64), target.astype(np.float64), gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=channel_axis)


def noisy_pair(seed: int, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 target and a noisy uint8 prediction of it."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 256, shape).astype(np.uint8)
    pred = np.clip(target + rng.normal(0, 20, shape), 0, 255).round().astype(np.uint8)
    return pred, target


def natural_pair(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A crop of a scikit-image photo and a blurred-and-noisy version of it (uint8 RGB)."""
    image = {"astronaut": data.astronaut()[40:112, 180:261], "coffee": data.coffee()[150:219, 250:340]}[name]
    blurred = (image.astype(np.float64) + np.roll(image, 1, 0) + np.roll(image, 1, 1)) / 3
    noisy = blurred + np.random.default_rng(seed).normal(0, 4, image.shape)
    return np.clip(noisy, 0, 255).round().astype(np.uint8), image


def test_psnr_hand_case_and_skimage():
    target = np.zeros((2, 2), dtype=np.uint8)
    pred = np.array([[0, 2], [0, 0]], dtype=np.uint8)  # MSE = 4 / 4 = 1
    assert psnr(pred, target) == pytest.approx(20 * math.log10(255), abs=1e-12)
    for seed, shape in [(0, (17, 23, 3)), (1, (31, 12))]:
        pred, target = noisy_pair(seed, shape)
        assert psnr(pred, target) == pytest.approx(peak_signal_noise_ratio(target, pred, data_range=255), abs=1e-10)


def test_identical_images_score_capped_psnr_and_ssim_one():
    _, target = natural_pair("astronaut", 0)
    assert psnr(target, target) == MAX_PSNR  # capped, so a dataset mean stays finite
    assert ssim(target, target) == pytest.approx(1.0, abs=1e-12)
    assert restoration_scores(target, target, "y", crop=4) == pytest.approx({"psnr": MAX_PSNR, "ssim": 1.0})
    assert psnr(np.full((4, 4), 100.0), np.full((4, 4), 100.0 + 1e-6)) == MAX_PSNR  # tiny error: cap too


def test_ssim_constant_images_hand_formula():
    # No variance: SSIM reduces to the luminance term (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 255)^2.
    a, b, c1 = 100.0, 130.0, (0.01 * 255) ** 2
    assert ssim(np.full((13, 15), a), np.full((13, 15), b)) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1),
                                                                            rel=1e-12)


@pytest.mark.parametrize("seed, shape", [(0, (11, 11)), (1, (23, 37)), (2, (40, 29, 3)), (3, (12, 51, 3))])
def test_ssim_matches_skimage_random(seed, shape):
    pred, target = noisy_pair(seed, shape)
    assert ssim(pred, target) == pytest.approx(skimage_ssim(pred, target), abs=1e-6)


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_ssim_matches_skimage_natural(name):
    pred, target = natural_pair(name, 1)
    assert ssim(pred, target) == pytest.approx(skimage_ssim(pred, target), abs=1e-6)
    pred_y, target_y = rgb2ycbcr(pred)[..., 0], rgb2ycbcr(target)[..., 0]
    assert ssim(rgb_to_y(pred), rgb_to_y(target)) == pytest.approx(skimage_ssim(pred_y, target_y), abs=1e-6)


def test_rgb_to_y_matches_skimage():
    image = np.concatenate([data.astronaut()[:16, :16], noisy_pair(4, (16, 16, 3))[0]], axis=1)
    image[0, :3] = [[0, 0, 0], [255, 255, 255], [255, 0, 0]]
    y = rgb_to_y(image)
    assert y.shape == image.shape[:2] and y.dtype == np.float64
    np.testing.assert_allclose(y, rgb2ycbcr(image)[..., 0], rtol=0, atol=1e-9)
    assert y[0, 0] == pytest.approx(16.0) and y[0, 1] == pytest.approx(235.0)  # studio-swing range


@pytest.mark.parametrize("name, channels, crop", [("astronaut", "rgb", 0), ("coffee", "y", 4), ("astronaut", "y", 0),
                                                  ("coffee", "rgb", 3)])
def test_restoration_scores_match_skimage_pipeline(name, channels, crop):
    pred, target = natural_pair(name, 2)
    if channels == "y":  # skimage's own BT.601 conversion, unrounded float Y
        pred_ref, target_ref = rgb2ycbcr(pred)[..., 0], rgb2ycbcr(target)[..., 0]
    else:
        pred_ref, target_ref = pred, target
    if crop:
        pred_ref, target_ref = pred_ref[crop:-crop, crop:-crop], target_ref[crop:-crop, crop:-crop]
    scores = restoration_scores(pred, target, channels, crop)
    assert scores["psnr"] == pytest.approx(peak_signal_noise_ratio(target_ref, pred_ref, data_range=255), abs=1e-9)
    assert scores["ssim"] == pytest.approx(skimage_ssim(pred_ref, target_ref), abs=1e-6)


def test_float_and_out_of_range_predictions_are_quantised_first():
    pred, target = natural_pair("coffee", 3)
    rng = np.random.default_rng(5)
    float_pred = pred + rng.uniform(-0.49, 0.49, pred.shape)  # rounds back to pred
    float_pred[0, :4, 0] = [-30.0, 300.0, 254.6, 0.4]  # clips/rounds to 0, 255, 255, 0
    saved = pred.copy()
    saved[0, :4, 0] = [0, 255, 255, 0]
    for channels in ("rgb", "y"):
        assert restoration_scores(float_pred, target, channels) == restoration_scores(saved, target, channels)
    assert restoration_scores(pred.astype(np.float32), target) == restoration_scores(pred, target)
    with pytest.raises(PixelpredError, match="NaN"):
        restoration_scores(np.full(target.shape, np.nan), target)


def test_shape_and_argument_errors():
    pred, target = noisy_pair(6, (20, 20, 3))
    with pytest.raises(PixelpredError, match=r"\(20, 19, 3\) does not match target shape \(20, 20, 3\)"):
        restoration_scores(pred[:, :19], target)
    with pytest.raises(PixelpredError, match="does not match"):
        ssim(pred[..., 0], target)
    with pytest.raises(PixelpredError, match="RGB"):
        restoration_scores(pred[..., 0], target[..., 0])
    with pytest.raises(PixelpredError, match="channels"):
        restoration_scores(pred, target, "ycbcr")
    with pytest.raises(PixelpredError, match="crop"):
        restoration_scores(pred, target, "rgb", crop=-1)
    with pytest.raises(PixelpredError, match="too small"):
        restoration_scores(pred, target, "y", crop=5)  # 10x10 left: smaller than the SSIM window
    with pytest.raises(PixelpredError, match="11x11"):
        ssim(pred[:10], target[:10])


def test_mean_scores_is_per_image_mean():
    per_image = [{"psnr": 30.0, "ssim": 0.9}, {"psnr": 20.0, "ssim": 0.5}, {"psnr": MAX_PSNR, "ssim": 1.0}]
    assert mean_scores(per_image) == pytest.approx({"psnr": 50.0, "ssim": 0.8, "num_images": 3.0})
    with pytest.raises(PixelpredError):
        mean_scores([])
    with pytest.raises(PixelpredError):
        mean_scores([{"psnr": 1.0}, {"ssim": 1.0}])
