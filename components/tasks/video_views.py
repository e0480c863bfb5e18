"""Views of a video model on a clip (§7.3.1, Fig 7.4): propagated masks over the frames, and pixel tracks, a grid
of pixels followed through the clip by chaining the flows between consecutive frames.

Flows follow components.models.warp: the flow of frame t into s moves t's pixel p to p + flow(p) in s. Track
colours come from the project's one colour wheel (components.tasks.colorize.flow_to_color): each track is coloured
by where it starts, as an offset from the image centre.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from components.tasks.colorize import flow_to_color, label_palette

MASK_OPACITY = 0.55
SCALE = 3            # views of 64 x 96 frames are drawn 3 x larger, so a one-pixel track stays visible


def enlarge(image: np.ndarray) -> np.ndarray:
    """-> the image SCALE x larger, each pixel a SCALE x SCALE block."""
    return np.repeat(np.repeat(image, SCALE, axis=0), SCALE, axis=1)


def overlay_labels(frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """uint8 frame (H, W, 3), label map (H, W; 0 background) -> the frame SCALE x larger with each object in its
    palette colour."""
    colors = label_palette()[labels.astype(np.int64) % 256].astype(np.float32)
    blended = np.where(labels[..., None] > 0, (1 - MASK_OPACITY) * frame + MASK_OPACITY * colors, frame)
    return enlarge(np.round(blended).astype(np.uint8))


def _sample(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Flow (H, W, 2), points (P, 2) as (x, y) inside the grid -> the flow at each point, bilinearly."""
    height, width = flow.shape[:2]
    x = np.clip(points[:, 0], 0, width - 1)
    y = np.clip(points[:, 1], 0, height - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), width - 2), np.minimum(np.floor(y).astype(int), height - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    return ((1 - fy) * ((1 - fx) * flow[y0, x0] + fx * flow[y0, x0 + 1])
            + fy * ((1 - fx) * flow[y0 + 1, x0] + fx * flow[y0 + 1, x0 + 1]))


def track_points(flows: Sequence[np.ndarray], points: np.ndarray) -> np.ndarray:
    """Flows of frame t into t + 1 for t = 0..T-2, starting points (P, 2) (x, y) in frame 0 -> positions (T, P, 2);
    a point that leaves the frame stays NaN from then on."""
    height, width = flows[0].shape[:2]
    positions = [points.astype(np.float64)]
    for flow in flows:
        current = positions[-1]
        moved = current + _sample(flow, np.nan_to_num(current))
        outside = ~((moved[:, 0] >= 0) & (moved[:, 0] <= width - 1) & (moved[:, 1] >= 0) & (moved[:, 1] <= height - 1))
        moved[outside | np.isnan(current).any(1)] = np.nan
        positions.append(moved)
    return np.stack(positions)


def grid_points(height: int, width: int, step: int) -> np.ndarray:
    """-> (P, 2) pixel centres (x, y) of a grid every `step` pixels, away from the border."""
    ys, xs = np.mgrid[step // 2:height:step, step // 2:width:step]
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)


def track_colors(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Starting points (P, 2) -> uint8 (P, 3): the colour wheel at each point's offset from the image centre."""
    offsets = points - np.array([(width - 1) / 2, (height - 1) / 2])
    return flow_to_color(offsets[None], max_magnitude=float(np.hypot(width, height) / 2))[0]


def draw_tracks(frame: np.ndarray, tracks: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """uint8 frame (H, W, 3), tracks (T, P, 2), colours (P, 3) -> the frame SCALE x larger with each track's path
    (one dot per sub-pixel step of each segment) and a 3 x 3 mark where it ends."""
    image = enlarge(frame).copy()
    height, width = image.shape[:2]
    scaled = tracks * SCALE + (SCALE - 1) / 2
    for p in range(scaled.shape[1]):
        path = scaled[:, p]
        path = path[~np.isnan(path).any(1)]
        for start, end in zip(path[:-1], path[1:]):
            steps = int(np.ceil(np.abs(end - start).max())) + 1
            line = np.rint(start + np.linspace(0, 1, steps)[:, None] * (end - start)).astype(int)
            keep = (line[:, 0] >= 0) & (line[:, 0] < width) & (line[:, 1] >= 0) & (line[:, 1] < height)
            image[line[keep, 1], line[keep, 0]] = colors[p]
        if len(path):
            x, y = np.rint(path[-1]).astype(int)
            image[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = colors[p]
    return image
