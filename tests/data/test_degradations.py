"""Degradations of §6.4: kernel geometry, seeded determinism, spatially varying blur, JPEG and aligned bicubic SR;
the shifted test sets' generators: camera-shake kernels, JPEG chroma subsampling, box-downsampled SR."""

import io
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from components.config import ConfigError, DegradationConfig, ShiftedDegradationConfig, from_dict
from components.data.degradations import (
    bicubic_sr,
    blend_weights,
    blur,
    crop_to_multiple,
    degrade,
    downscale,
    encode_jpeg,
    jpeg,
    max_shake_length,
    motion_kernel,
    resampled_sr,
    shake_blur,
    shake_kernel,
    shake_trajectory,
)


def texture(height: int = 96, width: int = 96, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def blob(height: int, width: int, centre: tuple[float, float], sigma: float) -> np.ndarray:
    """A wide Gaussian blob: smooth enough that bicubic ×4 keeps it, so only a shift can move it."""
    rows, cols = np.mgrid[:height, :width]
    value = 250.0 * np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma ** 2))
    return np.repeat(np.rint(value).astype(np.uint8)[..., None], 3, axis=2)


def centroid(image: np.ndarray) -> np.ndarray:
    weight = image[..., 0].astype(np.float64)
    rows, cols = np.mgrid[:weight.shape[0], :weight.shape[1]]
    return np.array([(weight * rows).sum(), (weight * cols).sum()]) / weight.sum()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2))


def kernel_moments(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, covariance eigenvalues and major axis of a kernel, in (x right, y up) coordinates about its anchor."""
    size = kernel.shape[0]
    rows, cols = np.mgrid[:size, :size]
    points = np.stack([(cols - size // 2).ravel(), (size // 2 - rows).ravel()]).astype(np.float64)
    weights = kernel.ravel().astype(np.float64)
    mean = points @ weights
    centred = points - mean[:, None]
    eigenvalues, eigenvectors = np.linalg.eigh((centred * weights) @ centred.T)
    return mean, eigenvalues, eigenvectors[:, 1]


@pytest.mark.parametrize("length, angle", [(1, 0), (5, 170), (10, 30), (17, 135), (30, 0), (30, 45), (30, 90), (23.5, 112.0)])
def test_kernel_is_a_normalised_non_negative_30x30_filter(length, angle):
    kernel = motion_kernel(length, angle)
    assert kernel.shape == (30, 30) and kernel.dtype == np.float32
    assert kernel.min() >= 0
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("length, angle", [(5, 170), (10, 30), (17, 135), (30, 0), (30, 45), (30, 90), (23.5, 112.0), (8, 2)])
def test_kernel_second_moments_match_length_and_angle(length, angle):
    mean, (minor, major), axis = kernel_moments(motion_kernel(length, angle))
    axis_angle = np.degrees(np.arctan2(axis[1], axis[0])) % 180
    assert min(abs(axis_angle - angle), 180 - abs(axis_angle - angle)) < 2.0
    # A uniform segment between end points (length - 1) apart has variance (length - 1)² / 12.
    assert np.sqrt(12 * major) == pytest.approx(length - 1, abs=1.0)
    assert minor < 0.25                        # a thin line, not a blob
    assert np.abs(mean).max() < 0.1            # centred on the anchor: blurring does not shift


def test_length_one_is_a_delta_and_blurs_nothing():
    kernel = motion_kernel(1, 37.0)
    assert kernel[15, 15] == pytest.approx(1.0)
    image = texture()
    assert np.array_equal(blur(image, [kernel], blend_weights(96, 96, 1)), image)


def test_kernel_rejects_a_length_the_kernel_cannot_hold():
    with pytest.raises(ValueError, match="motion length"):
        motion_kernel(31, 0.0, size=30)


@pytest.mark.parametrize("grid", [1, 2, 3])
def test_blend_weights_are_smooth_partition_of_unity(grid):
    weights = blend_weights(40, 57, grid)
    assert weights.shape == (grid * grid, 40, 57) and weights.min() >= 0
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, atol=1e-6)
    assert np.abs(np.diff(weights, axis=1)).max() <= (grid - 1) / 39 + 1e-6   # linear ramps, no jumps
    assert weights[0, 0, 0] == 1.0 and weights[-1, -1, -1] == 1.0


def test_nonuniform_blur_uses_each_corner_kernel_at_its_corner():
    image = texture()
    kernels = [motion_kernel(21, 0.0), motion_kernel(21, 90.0), motion_kernel(21, 45.0), motion_kernel(1, 0.0)]
    blurred = blur(image, kernels, blend_weights(96, 96, 2))
    alone = [blur(image, [k], blend_weights(96, 96, 1)) for k in kernels]
    corners = {0: (slice(0, 8), slice(0, 8)), 1: (slice(0, 8), slice(-8, None)),
               2: (slice(-8, None), slice(0, 8)), 3: (slice(-8, None), slice(-8, None))}
    for node, region in corners.items():
        errors = [np.abs(blurred[region].astype(float) - single[region]).mean() for single in alone]
        assert int(np.argmin(errors)) == node, errors
        assert errors[node] < 0.2 * sorted(errors)[1]


def test_deblur_params_rebuild_the_degradation():
    image, config = texture(64, 80), DegradationConfig(blur_grid=3)
    low_quality, params = degrade("deblur", image, np.random.default_rng(4), config)
    params = json.loads(json.dumps(params))            # what a sample's `json` gives back
    kernels = [motion_kernel(k["length"], k["angle"], params["kernel_size"]) for k in params["kernels"]]
    assert len(kernels) == 9 and low_quality.shape == image.shape and low_quality.dtype == np.uint8
    assert all(1 <= k["length"] <= 30 and 0 <= k["angle"] < 180 for k in params["kernels"])
    assert np.array_equal(blur(image, kernels, blend_weights(64, 80, params["grid"])), low_quality)


@pytest.mark.parametrize("grid", [1, 3])
def test_blur_keeps_a_constant_image_constant(grid):
    image = np.full((50, 70, 3), 137, np.uint8)
    low_quality, _ = degrade("deblur", image, np.random.default_rng(0), DegradationConfig(blur_grid=grid))
    assert np.array_equal(low_quality, image)


@pytest.mark.parametrize("task", ["deblur", "jpeg", "sr"])
def test_degrade_is_deterministic_per_seed(task):
    image, config = texture(64, 64), DegradationConfig()
    first = degrade(task, image, np.random.default_rng(7), config)
    second = degrade(task, image, np.random.default_rng(7), config)
    assert np.array_equal(first[0], second[0]) and first[1] == second[1]


def test_seeds_draw_different_degradations():
    image, config = texture(64, 64), DegradationConfig()
    blurred = [degrade("deblur", image, np.random.default_rng(seed), config)[0] for seed in (0, 1)]
    assert not np.array_equal(*blurred)
    qualities = {degrade("jpeg", image, np.random.default_rng(seed), config)[1]["quality"] for seed in range(30)}
    assert qualities == {10, 20, 40}


def test_fixed_jpeg_quality_is_used():
    _, params = degrade("jpeg", texture(32, 32), np.random.default_rng(0), DegradationConfig(jpeg_quality=20))
    assert params == {"task": "jpeg", "quality": 20}


def test_jpeg_size_and_fidelity_rise_with_quality():
    photo = data.astronaut()[:256, 128:384]
    sizes = [len(encode_jpeg(photo, quality)) for quality in (10, 20, 40, 80)]
    scores = [psnr(jpeg(photo, quality), photo) for quality in (10, 20, 40, 80)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4
    assert scores == sorted(scores) and np.diff(scores).min() > 0.5
    assert jpeg(photo, 10).shape == photo.shape


def test_sr_is_aligned_with_the_input_grid():
    high = blob(96, 128, centre=(40.3, 61.7), sigma=8.0)
    low_quality, params = degrade("sr", high, np.random.default_rng(0), DegradationConfig())
    assert params == {"task": "sr", "scale": 4, "size": [96, 128]}
    assert np.abs(centroid(low_quality) - centroid(high)).max() < 0.1
    shifted = blob(96, 128, centre=(40.8, 62.2), sigma=8.0)      # what a half-pixel misalignment gives
    error = np.abs(low_quality.astype(float) - high).mean()
    assert error < 0.2 * np.abs(low_quality.astype(float) - shifted).mean()


def test_sr_crops_top_left_to_multiples_of_the_scale():
    image = texture(70, 99)
    cropped = crop_to_multiple(image, 4)
    assert np.array_equal(cropped, image[:68, :96])
    low_quality, params = degrade("sr", image, np.random.default_rng(0), DegradationConfig())
    assert low_quality.shape == cropped.shape and params["size"] == [68, 96]
    with pytest.raises(ValueError, match="smaller than the scale"):
        crop_to_multiple(texture(3, 40), 4)


@pytest.mark.parametrize("values, message", [
    ({"blur_kernel_size": 0}, "blur_kernel_size"),
    ({"blur_length": (0.5, 30.0)}, "blur_length"),
    ({"blur_length": (20.0, 10.0)}, "blur_length"),
    ({"blur_length": (1.0, 31.0)}, "blur_length"),
    ({"blur_angle": (-10.0, 90.0)}, "blur_angle"),
    ({"blur_angle": (0.0, 200.0)}, "blur_angle"),
    ({"blur_grid": 0}, "blur_grid"),
    ({"jpeg_qualities": ()}, "jpeg_qualities"),
    ({"jpeg_qualities": (10, 101)}, "jpeg_qualities"),
    ({"jpeg_quality": 0}, "jpeg_quality"),
    ({"jpeg_quality": "best"}, "jpeg_quality"),
    ({"sr_scale": 1}, "sr_scale"),
])
def test_invalid_config_raises_a_clear_error(values, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(DegradationConfig, {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}, "degradation")


def test_config_reads_params_yaml_values():
    config = from_dict(DegradationConfig, {"jpeg_quality": 40, "blur_length": [1, 15], "blur_grid": 3}, "degradation")
    assert config.jpeg_quality == 40 and config.blur_length == (1.0, 15.0) and config.blur_grid == 3


def test_unknown_task_and_bad_images_are_rejected():
    with pytest.raises(ConfigError, match="unknown degradation task 'denoise'"):
        degrade("denoise", texture(), np.random.default_rng(0), DegradationConfig())
    with pytest.raises(ValueError, match="uint8 H x W x 3"):
        degrade("jpeg", texture()[..., 0], np.random.default_rng(0), DegradationConfig())


def minor_major_ratio(kernel: np.ndarray) -> float:
    _, (minor, major), _ = kernel_moments(kernel)
    return minor / major


@pytest.mark.parametrize("seed, length, size", [(0, 20.0, 30), (1, 1.0, 30), (2, 28.0, 30), (3, 30.0, 31), (4, 7.5, 15)])
def test_shake_kernel_is_a_seeded_normalised_filter_centred_on_the_anchor(seed, length, size):
    kernel = shake_kernel(np.random.default_rng(seed), length, size)
    assert kernel.shape == (size, size) and kernel.dtype == np.float32
    assert kernel.min() >= 0
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    mean, _, _ = kernel_moments(kernel)
    assert np.abs(mean).max() < 0.5                  # blurring with it does not shift the image
    assert np.array_equal(kernel, shake_kernel(np.random.default_rng(seed), length, size))
    assert not np.array_equal(kernel, shake_kernel(np.random.default_rng(seed + 10), length, size))


def test_shake_trajectory_has_the_configured_length_and_scales_with_it():
    points = shake_trajectory(np.random.default_rng(2), 20.0)
    assert points.shape == (512, 2) and np.array_equal(points[0], [0.0, 0.0])
    assert np.linalg.norm(np.diff(points, axis=0), axis=1).sum() == pytest.approx(20.0)
    # Every term of the velocity update is relative to the speed: the same draws at twice the length
    # give the same path twice as large.
    np.testing.assert_allclose(shake_trajectory(np.random.default_rng(2), 40.0), 2 * points, atol=1e-9)


def test_shake_kernels_are_curved_unlike_linear_ones():
    line = max(minor_major_ratio(motion_kernel(20, angle)) for angle in range(0, 180, 15))
    shake = [minor_major_ratio(shake_kernel(np.random.default_rng(seed), 20.0)) for seed in range(20)]
    assert line < 0.01
    assert sum(ratio > 0.05 for ratio in shake) >= 15, shake


def test_shake_extent_grows_with_length_and_stays_inside_half_of_it():
    def radius(kernel: np.ndarray) -> float:          # RMS distance of the mass from the anchor
        return float(np.sqrt(kernel_moments(kernel)[1].sum()))

    radii = [np.mean([radius(shake_kernel(np.random.default_rng(seed), length)) for seed in range(10)])
             for length in (4.0, 8.0, 16.0, 28.0)]
    assert radii == sorted(radii) and radii[-1] > 2 * radii[1]
    for seed in range(30):            # the bound that lets max_shake_length promise a fit
        points = shake_trajectory(np.random.default_rng(seed), 28.0)
        assert np.linalg.norm(points - points.mean(axis=0), axis=1).max() <= 14.0


def test_shake_blur_keeps_a_constant_image_constant_and_its_params_rebuild_it():
    constant = np.full((50, 70, 3), 137, np.uint8)
    assert np.array_equal(shake_blur(constant, np.random.default_rng(0), ShiftedDegradationConfig())[0], constant)
    image = texture(64, 80)
    low_quality, params = shake_blur(image, np.random.default_rng(1), ShiftedDegradationConfig(shake_length=12.0))
    params = json.loads(json.dumps(params))
    assert {k: params[k] for k in ("task", "model", "kernel_size", "grid", "length")} == \
        {"task": "deblur", "model": "camera_shake", "kernel_size": 30, "grid": 1, "length": 12.0}
    kernel = shake_kernel(np.random.default_rng(params["trajectory_seed"]), params["length"], params["kernel_size"],
                          params["steps"])
    assert np.array_equal(blur(image, [kernel], blend_weights(64, 80, 1)), low_quality)
    assert not np.array_equal(low_quality, image)


@pytest.mark.parametrize("size", [30, 31, 15])
def test_a_shake_that_would_not_fit_is_rejected(size):
    longest = max_shake_length(size)
    assert longest == size - 2 + size % 2                 # 28 for 30, 30 for 31
    shake_kernel(np.random.default_rng(0), longest, size)
    assert ShiftedDegradationConfig(shake_kernel_size=size, shake_length=longest).shake_length == longest
    with pytest.raises(ValueError, match="shake length"):
        shake_kernel(np.random.default_rng(0), longest + 0.5, size)
    with pytest.raises(ConfigError, match="shake_length must lie in"):
        ShiftedDegradationConfig(shake_kernel_size=size, shake_length=longest + 0.5)


def chroma(image: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float Cb, Cr planes of BT.601 (JPEG's colour transform)."""
    r, g, b = np.moveaxis(image.astype(np.float64), -1, 0)
    return np.stack([-0.168736 * r - 0.331264 * g + 0.5 * b, 0.5 * r - 0.418688 * g - 0.081312 * b])


@pytest.mark.parametrize("quality", [10, 30])
def test_444_jpeg_keeps_the_chroma_that_420_averages_away(quality):
    photo = data.astronaut()
    files = {s: encode_jpeg(photo, quality, s) for s in ("4:4:4", "4:2:0")}
    assert len(files["4:4:4"]) > len(files["4:2:0"])
    # RMS chroma error; at low quality coarse quantisation costs both about as much as subsampling does.
    errors = {s: np.sqrt(np.mean((chroma(jpeg(photo, quality, s)) - chroma(photo)) ** 2)) for s in files}
    assert errors["4:4:4"] < 0.9 * errors["4:2:0"], errors
    # The file says so: luma sampling factors (h, v) are 1 x 1 for 4:4:4 and 2 x 2 for 4:2:0.
    assert [Image.open(io.BytesIO(files[s])).layer[0][1:3] for s in files] == [(1, 1), (2, 2)]


def test_jpeg_default_subsampling_is_420():
    photo = data.astronaut()[:128, 200:328]
    assert encode_jpeg(photo, 20) == encode_jpeg(photo, 20, "4:2:0")
    assert np.array_equal(jpeg(photo, 40), jpeg(photo, 40, "4:2:0"))


def test_box_sr_crops_and_sizes_like_bicubic_sr_but_differs():
    image = texture(70, 99)
    low_quality = resampled_sr(image, 4, "box")
    assert low_quality.shape == bicubic_sr(image, 4).shape == (68, 96, 3)
    assert np.array_equal(low_quality, resampled_sr(image[:68, :96], 4, "box"))
    assert np.abs(low_quality.astype(float) - bicubic_sr(image, 4)).mean() > 1.0


def test_box_downscale_is_the_block_mean():
    image = texture(64, 96)
    low, values = downscale(image, 4, "box"), image.astype(np.float64)
    assert low.shape == (16, 24, 3)
    assert np.abs(low - values.reshape(16, 4, 24, 4, 3).mean(axis=(1, 3))).max() <= 1.0
    # Exactly: Pillow averages 4 pixels along each row, then 4 along each column, rounding halves up
    # to uint8 after each pass.
    across = np.floor(values.reshape(64, 24, 4, 3).mean(axis=2) + 0.5)
    assert np.array_equal(low, np.floor(across.reshape(16, 4, 24, 3).mean(axis=1) + 0.5))


def test_box_sr_of_constant_blocks_upsamples_the_blocks_themselves():
    low = texture(16, 24, seed=1)
    blocky = np.kron(low, np.ones((4, 4, 1), np.uint8))           # constant 4 x 4 blocks: exact means
    assert np.array_equal(downscale(blocky, 4, "box"), low)
    assert not np.array_equal(downscale(blocky, 4, "bicubic"), low)      # bicubic mixes in the neighbours
    up = np.asarray(Image.fromarray(low).resize((96, 64), Image.Resampling.BICUBIC))
    assert np.array_equal(resampled_sr(blocky, 4, "box"), up)
