"""Prediction/ground-truth maps -> uint8 RGB images for panels a person looks at; the one flow colour wheel."""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import hsv_to_rgb


def label_palette(num_colors: int = 256, seed: int = 7) -> np.ndarray:
    """Fixed distinct colours per class id -> uint8 num_colors x 3 (255 = ignore is black)."""
    palette = np.random.default_rng(seed).integers(40, 256, size=(num_colors, 3)).astype(np.uint8)
    palette[255 % num_colors] = 0
    return palette


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """Integer H x W -> uint8 H x W x 3."""
    return label_palette()[labels.astype(np.int64) % 256]


def colorize_depth(depth: np.ndarray, vmax: float) -> np.ndarray:
    """Metric H x W (0 = invalid, shown black) -> uint8 H x W x 3 on a log scale."""
    valid = depth > 0
    scaled = np.log1p(np.where(valid, depth, 0.0)) / np.log1p(max(vmax, 1e-6))
    rgb = (colormaps["magma_r"](np.clip(scaled, 0, 1))[..., :3] * 255).astype(np.uint8)
    rgb[~valid] = 0
    return rgb


def colorize_normals(normal: np.ndarray) -> np.ndarray:
    """Unit H x W x 3 (zero = invalid) -> uint8 H x W x 3 via (n + 1) / 2."""
    return ((np.clip(normal, -1, 1) + 1.0) * 127.5).astype(np.uint8) * (np.abs(normal).sum(-1, keepdims=True) > 0)


def colorize_gray(values: np.ndarray) -> np.ndarray:
    """Map in [0, 1] H x W -> uint8 H x W x 3."""
    return np.repeat((np.clip(values, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)


def flow_to_color(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """H x W x 2 flow (dx, dy) -> uint8 H x W x 3; hue = direction, saturation = magnitude, zero flow white.

    The Middlebury coding (Baker et al.) blends white towards the hue of the direction by the normalised
    magnitude, which is HSV with value 1. Magnitudes are divided by max_magnitude (or the map's largest) and
    clipped to 1. Hue 0 (red) points along +x, hue 1/4 (yellow-green) along +y (down the image).
    """
    dx, dy = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    magnitude = np.hypot(dx, dy)
    scale = float(magnitude.max(initial=0.0)) if max_magnitude is None else float(max_magnitude)
    saturation = np.clip(magnitude / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(magnitude)
    hue = np.mod(np.arctan2(dy, dx) / (2 * np.pi), 1.0)
    hsv = np.stack([hue, saturation, np.ones_like(hue)], axis=-1)
    return np.round(hsv_to_rgb(hsv) * 255).astype(np.uint8)


def panel(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Grid of equally sized uint8 H x W x 3 images (rows of columns) with 2-px white gutters."""
    gutter = 2
    h, w = rows[0][0].shape[:2]
    ncols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + gutter) - gutter, ncols * (w + gutter) - gutter, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            out[i * (h + gutter): i * (h + gutter) + h, j * (w + gutter): j * (w + gutter) + w] = image
    return out
