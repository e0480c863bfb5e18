"""Synthetic degradations of §6.4: uint8 H x W x 3 image (+ numpy Generator) -> degraded image + its parameters.

The same functions make on-the-fly training pairs and fixed evaluation sets: every random draw
comes from the Generator passed in, and the returned parameter dict holds plain JSON values
(what a sample's `json` stores), enough to redo the degradation exactly.
"""
from __future__ import annotations

import io
from typing import Callable, Literal, Sequence

import numpy as np
import scipy.fft
from PIL import Image

from components.config import ConfigError, DegradationConfig

Task = Literal["deblur", "jpeg", "sr"]
Degrader = Callable[[np.ndarray, np.random.Generator, DegradationConfig], tuple[np.ndarray, dict]]

_SAMPLES_PER_PIXEL = 8    # sub-pixel steps along a kernel's segment: enough for a smooth, anti-aliased line


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
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    # One spare row/column: with an even size the anchor is off-centre by half a cell, so a
    # full-length axis-aligned segment splats a sliver (< 0.5 % of its mass) past the last cell.
    canvas = np.zeros((size + 1, size + 1))
    for dr, dc, weight in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        np.add.at(canvas, (r0 + dr, c0 + dc), weight)
    kernel = canvas[:size, :size]
    return (kernel / kernel.sum()).astype(np.float32)


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


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """uint8 H x W x 3 -> JPEG file bytes at `quality` (1-100)."""
    buffer = io.BytesIO()
    # 4:2:0 chroma subsampling is Pillow's default at every quality and what MATLAB's imwrite uses
    # (the LIVE1 / AR-CNN protocol); naming it keeps fixed evaluation sets stable across Pillow versions.
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
    return buffer.getvalue()


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """uint8 H x W x 3 -> uint8 H x W x 3 after a JPEG encode/decode round trip at `quality`."""
    return np.asarray(Image.open(io.BytesIO(encode_jpeg(image, quality))).convert("RGB"))


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
    high = crop_to_multiple(image, scale)
    height, width = high.shape[:2]
    low = Image.fromarray(high).resize((width // scale, height // scale), Image.Resampling.BICUBIC)
    return np.asarray(low.resize((width, height), Image.Resampling.BICUBIC))


def super_resolution(image: np.ndarray, rng: np.random.Generator, config: DegradationConfig) -> tuple[np.ndarray, dict]:
    """uint8 H x W x 3 -> bicubic ×scale down-up uint8 h x w x 3 (sides cropped to multiples of the scale); draws nothing."""
    low_quality = bicubic_sr(image, config.sr_scale)
    return low_quality, {"task": "sr", "scale": config.sr_scale, "size": list(low_quality.shape[:2])}


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
