"""Prediction/ground-truth maps -> uint8 RGB images for panels a person looks at."""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps


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
