"""Synthetic degradations of §6.4: uint8 H x W x 3 image (+ numpy Generator) -> degraded image + its parameters.

The same functions make on-the-fly training pairs and fixed evaluation sets: every random draw
comes from the Generator passed in, and the returned parameter dict holds plain JSON values
(what a sample's `json` stores), enough to redo the degradation exactly. A second generator per
task (camera-shake trajectories, other JPEG chroma subsampling, other SR downsamplers) makes the
shifted test sets only, to tell whether a model holds beyond its own training generator.
"""
from __future__ import annotations

import cmath
import io
from typing import Callable, Literal, Sequence

import numpy as np
import scipy.fft
from PIL import Image

from components.config import ConfigError, DegradationConfig, Downsampler, JpegSubsampling, ShiftedDegradationConfig

Task = Literal["deblur", "jpeg", "sr"]
Degrader = Callable[[np.ndarray, np.random.Generator, DegradationConfig], tuple[np.ndarray, dict]]

_SAMPLES_PER_PIXEL = 8    # sub-pixel steps along a kernel's segment: enough for a smooth, anti-aliased line
SHAKE_STEPS = 512         # time steps of a shake trajectory: ~25 per px at the default 20 px, a smooth splat
# Drawn uniformly once per trajectory, so a set spans steady to jittery hands. All three act on the
# velocity at each step, relative to the speed (the step length).
_SHAKE_JITTER = (0.03, 0.2)   # std of the Gaussian velocity perturbation
_SHAKE_PULL = (0.0, 0.1)      # pull towards the start, per trajectory length of distance from it
_SHAKE_JERK = (0.0, 0.005)    # probability of an abrupt turn: about 0 to 2.5 jerks per trajectory
_RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "box": Image.Resampling.BOX,
               "bilinear": Image.Resampling.BILINEAR, "lanczos": Image.Resampling.LANCZOS}


def splat(rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """N sub-pixel points (row, col) in [0, size)² -> float32 size x size, sum 1, by bilinear splatting.

    Each point spreads its unit mass over its four neighbouring cells, which keeps its centre of mass;
    what falls past the last row or column is dropped before normalising.
    """
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    # One spare row/column: with an even size the anchor is off-centre by half a cell, so a
    # full-length axis-aligned segment splats a sliver (< 0.5 % of its mass) past the last cell.
    canvas = np.zeros((size + 1, size + 1))
    for dr, dc, weight in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        np.add.at(canvas, (r0 + dr, c0 + dc), weight)
    kernel = canvas[:size, :size]
    return (kernel / kernel.sum()).astype(np.float32)


def motion_kernel(length: float, angle_deg: float, size: int = 30) -> np.ndarray:
    """Linear motion of `length` px at `angle_deg` (counter-clockwise from +x, y up) -> float32 size x size, sum 1.

    The segment is centred on cell (size // 2, size // 2), the anchor `blur` convolves about, so a
    blur never shifts the image. Its end points lie (length - 1) / 2 either side of the anchor, as in
    MATLAB's fspecial('motion'): an axis-aligned segment covers `length` pixels, length 1 is a delta.
    """
    if not 1 <= length <= size:
        raise ValueError(f"motion length must lie in [1, {size}] for a {size} x {size} kernel, got {length}")
    half = (length - 1.0) / 2.0
    t = np.linspace(-half, half, max(2, int(np.ceil(length * _SAMPLES_PER_PIXEL))))
    theta = np.deg2rad(angle_deg)
    rows = size // 2 - t * np.sin(theta)      # image rows grow downwards, the angle's y axis upwards
    cols = size // 2 + t * np.cos(theta)
    return splat(rows, cols, size)


def max_shake_length(size: int) -> int:
    """Kernel side -> the longest shake trajectory (px) whose centred kernel always fits a size x size support.

    A point of a constant-speed path of length L lies within L / 2 of the path's centre of mass, and
    the anchor (size // 2) has (size - 1) // 2 whole cells on its shorter side.
    """
    return 2 * ((size - 1) // 2)


def shake_trajectory(rng: np.random.Generator, length: float, steps: int = SHAKE_STEPS) -> np.ndarray:
    """Generator, path length in px -> float64 steps x 2 (row, col) positions of a random camera shake, from (0, 0).

    The random-trajectory model of Boracchi & Foi (2012, "Modeling the performance of image
    restoration from motion blur", IEEE TIP): a point moving with inertia whose velocity, at every
    step, gets a small Gaussian perturbation, a pull back towards the start (so the path stays
    compact) and, rarely, an abrupt jerk that turns it by 90 to 270 degrees. The velocity is then
    rescaled to a constant speed, so the whole path is exactly `length` long.
    """
    speed = length / (steps - 1)
    jitter, pull, jerk = rng.uniform(*_SHAKE_JITTER), rng.uniform(*_SHAKE_PULL), rng.uniform(*_SHAKE_JERK)
    heading = rng.uniform(0.0, 2 * np.pi)
    noise = rng.standard_normal((steps - 1, 2))           # drawn up front: one call, and the loop stays plain arithmetic
    jerks = rng.random(steps - 1) < jerk
    turns = rng.uniform(0.5 * np.pi, 1.5 * np.pi, steps - 1)
    # The plane as complex numbers, col + 1j * row: a turn is a multiplication.
    velocity, position = speed * cmath.exp(1j * heading), 0j
    path = [position]
    for (noise_col, noise_row), jerked, turn in zip(noise.tolist(), jerks.tolist(), turns.tolist()):
        if jerked:
            velocity *= cmath.exp(1j * turn)
        velocity += speed * (jitter * complex(noise_col, noise_row) - pull * position / length)
        velocity *= speed / abs(velocity)
        position += velocity
        path.append(position)
    points = np.array(path)
    return np.stack([points.imag, points.real], axis=1)


def shake_kernel(rng: np.random.Generator, length: float, size: int = 30, steps: int = SHAKE_STEPS) -> np.ndarray:
    """Generator, trajectory length in px -> float32 size x size camera-shake kernel, sum 1, centred on the anchor.

    The trajectory is shifted so its centre of mass (the kernel's, as splatting keeps it) lies on the
    anchor cell (size // 2, size // 2): like the linear kernels, a shake blur never shifts the image.
    """
    if not 1 <= length <= max_shake_length(size):
        raise ValueError(f"shake length must lie in [1, {max_shake_length(size)}] for a {size} x {size} kernel, "
                         f"got {length}")
    points = shake_trajectory(rng, length, steps)
    points += size // 2 - points.mean(axis=0)
    # The length bound keeps every point inside the support; clipping only absorbs round-off, which
    # would otherwise floor -1e-15 to cell -1 and wrap it to the far edge.
    points = np.clip(points, 0.0, size - 1.0)
    return splat(points[:, 0], points[:, 1], size)


def blend_weights(height: int, width: int, grid: int) -> np.ndarray:
    """Bilinear weights of a grid x grid lattice whose corner nodes sit on the image corners -> float32 grid² x H x W.

    Node i * grid + j has weight 1 at its own position and falls linearly to 0 at its neighbours,
    so the weights are smooth and sum to one at every pixel; grid 1 is a single all-ones map.
    """
    def tents(n: int) -> np.ndarray:      # grid x n: weight of each lattice line at each pixel
        position = np.arange(n) * (grid - 1) / max(n - 1, 1)
        return np.maximum(0.0, 1.0 - np.abs(position[None, :] - np.arange(grid)[:, None]))

    rows, cols = tents(height), tents(width)
    return (rows[:, None, :, None] * cols[None, :, None, :]).reshape(grid * grid, height, width).astype(np.float32)


def blur(image: np.ndarray, kernels: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3, N kernels k x k, weights N x H x W -> uint8 H x W x 3 blurred by sum_n weights[n] * (kernels[n] * image).

    Mixing blurred images with per-pixel weights equals blurring each pixel with the weighted mix of
    the kernels (a spatially varying kernel), at the cost of N FFT convolutions. Borders are
    reflect-padded; each kernel is anchored at cell (k // 2, k // 2).
    """
    height, width = image.shape[:2]
    size = kernels[0].shape[0]
    before, after = size - 1 - size // 2, size // 2     # puts the anchor tap on the output pixel
    padded = np.pad(image.astype(np.float32), ((before, after), (before, after), (0, 0)), mode="reflect")
    # The padded image is already as large as a linear convolution needs: the 'valid' window below
    # never reads wrapped-around values, so the FFT needs no further zero padding.
    shape = [scipy.fft.next_fast_len(n, real=True) for n in padded.shape[:2]]
    spectrum = scipy.fft.rfft2(padded, shape, axes=(0, 1))
    out = np.zeros(image.shape, np.float32)
    for kernel, weight in zip(kernels, weights):
        blurred = scipy.fft.irfft2(spectrum * scipy.fft.rfft2(kernel, shape)[..., None], shape, axes=(0, 1))
        out += weight[..., None] * blurred[size - 1:size - 1 + height, size - 1:size - 1 + width]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def motion_blur(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> tuple[np.ndarray, dict]:
    """uint8 H x W x 3 -> non-uniformly motion-blurred uint8 H x W x 3 and its grid of random linear kernels."""
    draws = [(float(rng.uniform(*config.blur_length)), float(rng.uniform(*config.blur_angle)))
             for _ in range(config.blur_grid ** 2)]
    kernels = [motion_kernel(length, angle, config.blur_kernel_size) for length, angle in draws]
    weights = blend_weights(image.shape[0], image.shape[1], config.blur_grid)
    params = {"task": "deblur", "kernel_size": config.blur_kernel_size, "grid": config.blur_grid,
              "kernels": [{"length": length, "angle": angle} for length, angle in draws]}   # row-major lattice order
    return blur(image, kernels, weights), params


def encode_jpeg(image: np.ndarray, quality: int, subsampling: JpegSubsampling = "4:2:0") -> bytes:
    """uint8 H x W x 3 -> JPEG file bytes at `quality` (1-100) with `subsampling` chroma."""
    buffer = io.BytesIO()
    # 4:2:0 chroma subsampling is Pillow's default at every quality and what MATLAB's imwrite uses
    # (the LIVE1 / AR-CNN protocol); naming it keeps fixed evaluation sets stable across Pillow versions.
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    return buffer.getvalue()


def jpeg(image: np.ndarray, quality: int, subsampling: JpegSubsampling = "4:2:0") -> np.ndarray:
    """uint8 H x W x 3 -> uint8 H x W x 3 after a JPEG encode/decode round trip at `quality` and `subsampling`."""
    return np.asarray(Image.open(io.BytesIO(encode_jpeg(image, quality, subsampling))).convert("RGB"))


def jpeg_compress(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> tuple[np.ndarray, dict]:
    """uint8 H x W x 3 -> JPEG-degraded uint8 H x W x 3 at the configured quality ('mixed': one drawn per image)."""
    if config.jpeg_quality == "mixed":
        quality = int(rng.choice(config.jpeg_qualities))
    else:
        quality = config.jpeg_quality
    return jpeg(image, quality), {"task": "jpeg", "quality": quality}


def crop_to_multiple(image: np.ndarray, scale: int) -> np.ndarray:
    """H x W (x C) -> top-left crop (H - H % scale) x (W - W % scale) (x C): whole low-resolution pixels only."""
    height, width = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    if height == 0 or width == 0:
        raise ValueError(f"image of size {image.shape[0]} x {image.shape[1]} is smaller than the scale {scale}")
    return image[:height, :width]


def bicubic_sr(image: np.ndarray, scale: int) -> np.ndarray:
    """uint8 H x W x 3 -> uint8 h x w x 3, the top-left crop to multiples of `scale`, bicubic down by `scale` and back up.

    Pillow's BICUBIC matches MATLAB's imresize, which made the Set5/Set14/Urban100 inputs: cubic
    a = -0.5, the kernel widened by the factor when shrinking (anti-aliasing), pixel-centre
    alignment (no half-pixel shift), and a low-resolution image rounded to uint8 like theirs.
    """
    return resampled_sr(image, scale, "bicubic")


def downscale(image: np.ndarray, scale: int, downsampler: Downsampler | Literal["bicubic"]) -> np.ndarray:
    """uint8 H x W x 3, sides multiples of `scale` -> uint8 H/scale x W/scale x 3 by Pillow's `downsampler` filter.

    Pillow widens every filter by the factor when shrinking; 'box' then averages each scale x scale block.
    """
    height, width = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((width // scale, height // scale), _RESAMPLING[downsampler]))


def resampled_sr(image: np.ndarray, scale: int, downsampler: Downsampler | Literal["bicubic"]) -> np.ndarray:
    """uint8 H x W x 3 -> uint8 h x w x 3, the top-left crop to multiples of `scale`, `downsampler` down, bicubic up."""
    high = crop_to_multiple(image, scale)
    height, width = high.shape[:2]
    low = Image.fromarray(downscale(high, scale, downsampler))
    return np.asarray(low.resize((width, height), Image.Resampling.BICUBIC))


def super_resolution(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> tuple[np.ndarray, dict]:
    """uint8 H x W x 3 -> bicubic ×scale down-up uint8 h x w x 3 (sides cropped to multiples of the scale); draws nothing."""
    low_quality = bicubic_sr(image, config.sr_scale)
    return low_quality, {"task": "sr", "scale": config.sr_scale, "size": list(low_quality.shape[:2])}


def shake_blur(image: np.ndarray, rng: np.random.Generator, config: ShiftedDegradationConfig) -> tuple[np.ndarray, dict]:
    """uint8 H x W x 3 -> uniformly camera-shake-blurred uint8 H x W x 3 and its trajectory's seed and parameters."""
    # The trajectory gets its own integer seed: the params then redo it without storing its points.
    seed = int(rng.integers(2 ** 32))
    kernel = shake_kernel(np.random.default_rng(seed), config.shake_length, config.shake_kernel_size)
    params = {"task": "deblur", "model": "camera_shake", "kernel_size": config.shake_kernel_size, "grid": 1,
              "length": config.shake_length, "steps": SHAKE_STEPS, "trajectory_seed": seed}
    return blur(image, [kernel], blend_weights(image.shape[0], image.shape[1], 1)), params


DEGRADERS: dict[str, Degrader] = {"deblur": motion_blur, "jpeg": jpeg_compress, "sr": super_resolution}


def degrade(task: Task, image: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> tuple[np.ndarray, dict]:
    """uint8 H x W x 3 -> (degraded uint8 image, JSON-ready params) for a §6.4 task: 'deblur', 'jpeg' or 'sr'.

    The output has the input's size, except for 'sr', whose input and target are first cropped
    top-left to multiples of the scale: pair it with `crop_to_multiple(image, config.sr_scale)`.
    """
    if task not in DEGRADERS:
        raise ConfigError(f"unknown degradation task {task!r} (known: {', '.join(DEGRADERS)})")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 H x W x 3 image, got {image.dtype} of shape {image.shape}")
    return DEGRADERS[task](image, rng, config)
