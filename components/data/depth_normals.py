"""Surface normals from a depth map by local least-squares plane fitting (thesis §2.3.1 for NYUv2: "fitting
least-squares planes to neighboring sets of points in the point cloud", after Silberman et al.; the window
size is not stated, `window` is ours).

Each pixel's normal is the smallest-eigenvalue eigenvector of the covariance of the valid back-projected points
in its window, oriented towards the camera (n . p < 0). Box sums make it vectorised: one 480 x 640 map costs a
few 3 x 3 eigendecompositions per pixel, batched.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

from components.data.geometry import backproject


def normals_from_depth(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float, window: int = 7,
                       min_valid: float = 0.5) -> np.ndarray:
    """z-depth (H, W) metres, 0 invalid -> float32 (H, W, 3) unit camera-frame normals, 0 where undetermined."""
    valid = depth > 0
    points = backproject(depth.astype(np.float64), fx, fy, cx, cy) * valid[..., None]
    mean_of = lambda a: uniform_filter(a, size=window, mode="constant")      # noqa: E731 (window means)
    share = mean_of(valid.astype(np.float64))
    ok = valid & (share >= min_valid)
    safe = np.where(share > 0, share, 1.0)
    centre = np.stack([mean_of(points[..., i]) for i in range(3)], axis=-1) / safe[..., None]
    second = np.empty(depth.shape + (3, 3))
    for i in range(3):
        for j in range(i, 3):
            second[..., i, j] = second[..., j, i] = mean_of(points[..., i] * points[..., j]) / safe
    covariance = second - centre[..., :, None] * centre[..., None, :]
    normals = np.zeros(depth.shape + (3,))
    _, vectors = np.linalg.eigh(covariance[ok])
    normal = vectors[:, :, 0]
    normal *= np.where(np.einsum("ni,ni->n", normal, points[ok]) > 0, -1.0, 1.0)[:, None]
    normals[ok] = normal
    return normals.astype(np.float32)
