"""Image restoration metrics (SPEC §6, thesis §6.4): PSNR and SSIM on RGB or on the BT.601 Y channel.

Protocol for one image pair (`restoration_scores`): both images are quantised as a saved 8-bit image
would be (clip to [0, 255], round half to even, as numpy/torch `round`), optionally reduced to the
Y channel, cropped by `crop` pixels on every side (SR: crop = scale), then scored in float64 with
data range 255. A dataset's score is the mean of its per-image scores (`mean_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy.ndimage import correlate1d

from components.errors import PixelpredError

MAX_PSNR = 100.0  # dB; a perfect reconstruction scores this instead of inf, so dataset means stay finite
DATA_RANGE = 255.0
SSIM_SIGMA, SSIM_RADIUS = 1.5, 5  # 11x11 Gaussian window, as in Wang et al. 2004 and skimage (truncate 3.5)
SSIM_K1, SSIM_K2 = 0.01, 0.03


def quantize(image: np.ndarray) -> np.ndarray:
    """Any-shape image in the 0..255 range (float predictions allowed) -> float64 integers in [0, 255]."""
    image = np.asarray(image, dtype=np.float64)
    if not np.isfinite(image).all():
        raise PixelpredError("image contains NaN or infinite values; cannot score it")
    return np.round(np.clip(image, 0.0, 255.0))


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) in [0, 255] -> (H, W) float64 BT.601 luma in [16, 235] (MATLAB rgb2ycbcr's Y)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise PixelpredError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    return 16.0 + image @ np.array([65.481, 128.553, 24.966]) / 255.0


def _check_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two images -> both as float64, after checking that their shapes agree."""
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise PixelpredError(f"prediction shape {pred.shape} does not match target shape {target.shape}")
    return pred, target


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """Images of any equal shape, data range 255 -> PSNR in dB over all values, capped at MAX_PSNR."""
    pred, target = _check_pair(pred, target)
    mse = float(np.mean((pred - target) ** 2))
    if mse == 0.0:
        return MAX_PSNR
    return min(10.0 * np.log10(DATA_RANGE**2 / mse), MAX_PSNR)


def _gaussian_window_1d() -> np.ndarray:
    """-> (11,) normalised Gaussian taps; the 11x11 SSIM window is their outer product (separable)."""
    offsets = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return taps / taps.sum()


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """(H, W) or (H, W, C) images, data range 255 -> mean SSIM (mean of per-channel SSIM for C > 1).

    Matches skimage's structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=255, channel_axis=-1): local statistics under an 11x11 Gaussian window with 'reflect'
    borders (d c b a | a b c d), population (co)variances, and the SSIM map's mean taken without the
    5-pixel strip along each border, where the window hangs over the padding.
    """
    pred, target = _check_pair(pred, target)
    if pred.ndim not in (2, 3) or min(pred.shape[:2]) < 2 * SSIM_RADIUS + 1:
        raise PixelpredError(f"SSIM needs (H, W) or (H, W, C) images of at least 11x11, got shape {pred.shape}")
    if pred.ndim == 2:
        pred, target = pred[..., None], target[..., None]
    # Stack the five maps whose local means SSIM needs; filter them in one separable pass: (5, H, W, C)
    stats = np.stack([pred, target, pred * pred, target * target, pred * target])
    window = _gaussian_window_1d()
    for axis in (1, 2):  # the image's H and W axes
        stats = correlate1d(stats, window, axis=axis, mode="reflect")
    mu_x, mu_y, mu_xx, mu_yy, mu_xy = stats
    var_x, var_y, cov_xy = mu_xx - mu_x * mu_x, mu_yy - mu_y * mu_y, mu_xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
                / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)))
    inner = ssim_map[SSIM_RADIUS:-SSIM_RADIUS, SSIM_RADIUS:-SSIM_RADIUS]
    return float(inner.mean(axis=(0, 1)).mean())  # per-channel means, then their mean


def restoration_scores(pred: np.ndarray, target: np.ndarray, channels: Literal["rgb", "y"] = "rgb",
                       crop: int = 0) -> dict[str, float]:
    """RGB (H, W, 3) prediction and target in the 0..255 range -> {"psnr", "ssim"} for this one pair.

    channels="rgb" scores all three channels (deblurring); "y" scores the BT.601 Y channel (JPEG, SR).
    Y is kept as unrounded float64, like the common MATLAB/BasicSR evaluation scripts (rgb2ycbcr on
    double input). `crop` pixels are removed from every side before scoring (SR: crop = scale).
    """
    pred, target = _check_pair(pred, target)
    if pred.ndim != 3 or pred.shape[-1] != 3:
        raise PixelpredError(f"expected (H, W, 3) RGB images, got shape {pred.shape}")
    if channels not in ("rgb", "y"):
        raise PixelpredError(f"channels must be 'rgb' or 'y', got {channels!r}")
    if not isinstance(crop, (int, np.integer)) or crop < 0:
        raise PixelpredError(f"crop must be a non-negative integer, got {crop!r}")
    if min(pred.shape[:2]) - 2 * crop < 2 * SSIM_RADIUS + 1:
        raise PixelpredError(f"images of shape {pred.shape} are too small for crop {crop} and an 11x11 SSIM window")
    pred, target = quantize(pred), quantize(target)
    if channels == "y":
        pred, target = rgb_to_y(pred), rgb_to_y(target)
    if crop:
        pred, target = pred[crop:-crop, crop:-crop], target[crop:-crop, crop:-crop]
    return {"psnr": psnr(pred, target), "ssim": ssim(pred, target)}


def mean_scores(per_image: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per-image score dicts (same keys) -> {key: mean over images}, plus "num_images"."""
    if not per_image:
        raise PixelpredError("no image was scored; cannot average restoration metrics")
    keys = set(per_image[0])
    if any(set(scores) != keys for scores in per_image):
        raise PixelpredError("per-image score dicts do not all have the same keys")
    means = {key: float(np.mean([scores[key] for scores in per_image])) for key in sorted(keys)}
    return means | {"num_images": float(len(per_image))}
