"""Normals from depth by local plane fitting (components/data/depth_normals.py).

Proven: on analytic planes seen through NYUv2's intrinsics the fitted normal is the plane's to < 0.5 deg and
faces the camera; it equals an independent per-pixel SVD fit of the same window; invalid depth and pixels
with too few valid neighbours get exactly zero.
"""
from __future__ import annotations

import numpy as np
import pytest

from components.data.depth_normals import normals_from_depth
from components.data.geometry import backproject

K = {"fx": 518.8579, "fy": 519.4696, "cx": 325.5824, "cy": 253.7362}
H, W = 480, 640


def plane_depth(normal: np.ndarray, offset: float) -> np.ndarray:
    """z-depth of the plane {p: n . p = offset} (camera frame) at every pixel centre."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    rays = np.stack([(u - K["cx"]) / K["fx"], (v - K["cy"]) / K["fy"], np.ones_like(u)], axis=-1)
    return (offset / (rays @ normal)).astype(np.float32)


@pytest.mark.parametrize("normal", [(0, 0, -1), (0, -0.8, -0.6), (0.5, 0, -np.sqrt(0.75)), (-0.3, 0.4, -np.sqrt(0.75))],
                         ids=["fronto-parallel", "floor-like", "wall-30deg", "oblique"])
def test_planes_are_recovered_and_face_the_camera(normal):
    normal = np.asarray(normal, dtype=np.float64)
    depth = plane_depth(normal, -2.0)
    assert (depth > 0).all()
    fitted = normals_from_depth(depth, **K)
    interior = fitted[4:-4, 4:-4].reshape(-1, 3).astype(np.float64)
    angles = np.degrees(np.arccos(np.clip(interior @ normal, -1, 1)))
    assert angles.max() < 0.5
    points = backproject(depth, **K)[4:-4, 4:-4].reshape(-1, 3)
    assert (np.einsum("ni,ni->n", interior, points) < 0).all()


def test_matches_a_per_pixel_svd_fit():
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:60, 0:80]
    depth = (2.0 + 0.3 * np.sin(u / 9.0) + 0.2 * np.cos(v / 7.0) + rng.normal(0, 0.01, (60, 80))).astype(np.float32)
    depth[rng.random(depth.shape) < 0.1] = 0
    fitted = normals_from_depth(depth, **K, window=7)
    points = backproject(depth.astype(np.float64), **K)
    for r, c in rng.integers(5, [55, 75], size=(25, 2)):
        if depth[r, c] == 0:
            assert not fitted[r, c].any()
            continue
        window = points[r - 3:r + 4, c - 3:c + 4].reshape(-1, 3)[depth[r - 3:r + 4, c - 3:c + 4].ravel() > 0]
        reference = np.linalg.svd(window - window.mean(0))[2][-1]
        reference *= -np.sign(reference @ points[r, c])
        assert np.arccos(np.clip(fitted[r, c] @ reference, -1, 1)) < 1e-3


def test_invalid_and_sparse_pixels_are_zero():
    depth = np.full((40, 40), 3.0, np.float32)
    depth[10, 10] = 0                      # one hole: zero there, its neighbours still fine
    depth[20:, :] = 0
    depth[25, 25] = 3.0                    # an isolated valid pixel: too few neighbours
    fitted = normals_from_depth(depth, **K)
    assert not fitted[10, 10].any() and np.isclose(np.linalg.norm(fitted[10, 11]), 1)
    assert not fitted[20:].any()
    lengths = np.linalg.norm(fitted, axis=-1)
    lengths[10, 10] = 1
    assert np.isclose(lengths[2:17, 2:-2], 1, atol=1e-5).all()
