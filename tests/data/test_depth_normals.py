"""Tests of normals_from_depth (components/data/depth_normals.py) against geometry it does not share.

Proven: (1) on analytic planes seen through NYUv2's intrinsics (tilted floor, wall at 30 deg, fronto-parallel,
oblique), cut from three places of the 480 x 640 frame, every interior pixel is fitted and its normal is the
plane's to < 0.5 deg; across a depth step the gate keeps both sides exact, where an ungated fit tilts them;
(2) it equals a plain per-pixel numpy SVD fit of the same samples (same gate, same support rule) to < 1e-3 rad
on a noisy surface with holes and steps, and fits exactly the pixels the reference fits, for the default
dilated window and a dense one; (3) invalid depth gives exactly 0, the support rule holds at its threshold,
and islands, image corners and empty maps give 0; (4) fitted normals are unit and face the camera, n . p < 0;
(5) on a synth indoor view the median error against the renderer's exact normals is < 3 deg on pixels whose
window lies on one surface.
"""
from __future__ import annotations

import numpy as np
import pytest

from components.data.depth_normals import normals_from_depth
from components.data.synth.render import render_view

# NYUv2 colour-camera intrinsics (Silberman et al. toolbox); fx != fy catches swapped axes.
K = {"fx": 518.8579, "fy": 519.4696, "cx": 325.5824, "cy": 253.7362}
FRAME = (480, 640)
REACH = 8  # the default window (9 samples, 2 px apart) reaches 8 px from its centre

FLOOR_TILT = np.radians(35.0)  # camera 1.2 m above the floor, pitched 35 deg down: the floor fills the frame
PLANES = {  # camera-frame unit normal facing the camera, and the plane offset n . p (< 0: camera in front)
    "fronto-parallel": ((0.0, 0.0, -1.0), -2.5),
    "tilted-floor": ((0.0, -np.cos(FLOOR_TILT), -np.sin(FLOOR_TILT)), -1.2),
    "wall-30deg": ((np.sin(np.radians(30.0)), 0.0, -np.cos(np.radians(30.0))), -3.0),
    "oblique": ((-0.3, 0.4, -np.sqrt(0.75)), -2.0),
}
PATCHES = {"top-left": (0, 0), "centre": (192, 256), "bottom-right": (384, 512)}  # 96 x 128 crops of the frame


def _rays(height: int, width: int, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1)


def _plane_depth(normal: np.ndarray, offset: float) -> np.ndarray:
    """z-depth (480, 640) float32 of the plane {p : normal . p = offset} on the NYUv2 frame; 0 where not seen."""
    z = offset / (_rays(*FRAME, **K) @ normal)
    return np.where(z > 0, z, 0.0).astype(np.float32)


def _angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def _assert_unit_and_facing(normals: np.ndarray, depth: np.ndarray, intrinsics: dict) -> None:
    fitted = normals.any(axis=-1)
    np.testing.assert_allclose(np.linalg.norm(normals[fitted], axis=-1), 1.0, atol=1e-5)
    points = _rays(*depth.shape, **intrinsics) * depth[..., None]
    assert (np.sum(normals * points, axis=-1)[fitted] < 0).all()


@pytest.mark.parametrize("patch", PATCHES)
@pytest.mark.parametrize("plane", PLANES)
def test_planes_are_recovered(plane: str, patch: str) -> None:
    normal, offset = np.array(PLANES[plane][0]), PLANES[plane][1]
    row, col = PATCHES[patch]
    depth = _plane_depth(normal, offset)[row:row + 96, col:col + 128]
    assert (depth > 0).all()
    crop = {**K, "cx": K["cx"] - col, "cy": K["cy"] - row}  # a crop is the same camera, principal point moved
    fitted = normals_from_depth(depth, **crop)
    interior = fitted[REACH:-REACH, REACH:-REACH]
    assert interior.any(axis=-1).all()
    assert _angles_deg(interior, normal).max() < 0.5
    _assert_unit_and_facing(fitted, depth, crop)


def test_gate_keeps_planes_apart_across_a_depth_step() -> None:
    depth = np.full((60, 80), 2.0, np.float32)
    depth[:, 40:] = 3.0  # two fronto-parallel planes, 50% apart in depth
    gated = normals_from_depth(depth, **K)
    ungated = normals_from_depth(depth, **K, max_depth_ratio=np.inf)
    band = (slice(REACH, -REACH), slice(36, 44))  # pixels whose window crosses the step
    assert gated[band].any(axis=-1).all()
    assert _angles_deg(gated[band], np.array([0.0, 0.0, -1.0])).max() < 0.5
    assert _angles_deg(ungated[band], np.array([0.0, 0.0, -1.0])).min() > 10.0


def _reference_normal(depth: np.ndarray, row: int, col: int, window: int, dilation: int) -> np.ndarray:
    """Per-pixel fit, written out: gather the samples, gate them, SVD of the centred points (defaults otherwise)."""
    height, width = depth.shape
    steps = dilation * (np.arange(window) - window // 2)
    rows, cols = np.meshgrid(row + steps, col + steps, indexing="ij")
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    z = np.zeros((window, window))
    z[inside] = depth[rows[inside], cols[inside]]
    centre = float(depth[row, col])
    kept = (z > 0) & (np.abs(z - centre) < 0.05 * centre)
    if centre <= 0 or kept.sum() < 0.5 * window**2:
        return np.zeros(3)
    points = np.stack([(cols - K["cx"]) / K["fx"] * z, (rows - K["cy"]) / K["fy"] * z, z], axis=-1)[kept]
    normal = np.linalg.svd(points - points.mean(axis=0))[2][-1]
    ray = np.array([(col - K["cx"]) / K["fx"], (row - K["cy"]) / K["fy"], 1.0])
    return normal * -np.sign(normal @ ray)


@pytest.mark.parametrize(("window", "dilation"), [(9, 2), (5, 1)])
def test_matches_a_per_pixel_svd_fit(window: int, dilation: int) -> None:
    rng = np.random.default_rng(7)
    v, u = np.mgrid[0:80, 0:100]
    surface = 2.0 + 0.15 * np.sin(u / 15.0 + v / 23.0) + 0.1 * np.cos(v / 11.0) + rng.normal(0.0, 0.002, u.shape)
    surface[20:45, 30:70] += 0.4  # a raised block: steps the gate must cut
    surface[rng.random(u.shape) < 0.1] = 0.0  # sensor holes
    depth = surface.astype(np.float32)
    fitted = normals_from_depth(depth, **K, window=window, dilation=dilation)
    pixels = rng.integers(0, [80, 100], size=(60, 2))
    references = np.array([_reference_normal(depth, r, c, window, dilation) for r, c in pixels])
    ours = fitted[pixels[:, 0], pixels[:, 1]].astype(np.float64)
    np.testing.assert_array_equal(ours.any(axis=-1), references.any(axis=-1))
    both = references.any(axis=-1)
    assert both.sum() >= 30
    assert np.radians(_angles_deg(ours[both], references[both])).max() < 1e-3
    _assert_unit_and_facing(fitted, depth, K)


def test_invalid_and_unsupported_pixels_are_zero() -> None:
    depth = np.full((40, 50), 3.0, np.float32)
    depth[5, 5] = 0.0
    for ratio in (0.05, np.inf):  # with the gate off too, a hole is skipped rather than fitted as the origin
        dense = normals_from_depth(depth, **K, window=3, dilation=1, max_depth_ratio=ratio)
        assert (dense[5, 5] == 0).all()
        around = dense[3:8, 3:8].reshape(-1, 3)
        assert around.any(axis=-1).sum() == 24
        assert _angles_deg(around[around.any(axis=-1)], np.array([0.0, 0.0, -1.0])).max() < 0.5

    quadrant = np.where((np.arange(40)[:, None] < 20) & (np.arange(50) < 30), depth, 0.0).astype(np.float32)
    corner = normals_from_depth(quadrant, **K, window=3, dilation=1)  # support needs 5 of 9 samples
    assert (corner[19, 29] == 0).all()  # 4 of 9 valid
    assert corner[19, 28].any() and corner[18, 29].any()  # 6 of 9 valid
    assert (corner[20:] == 0).all() and (corner[:, 30:] == 0).all()

    island = np.zeros((40, 50), np.float32)
    island[10:13, 10:13] = 3.0  # 9 valid samples of 81
    assert (normals_from_depth(island, **K) == 0).all()

    full = normals_from_depth(np.full((40, 50), 3.0, np.float32), **K)
    assert (full[0, 0] == 0).all() and full[0, 25].any()  # outside the image counts as invalid: 25 vs 45 of 81
    assert (normals_from_depth(np.zeros((40, 50), np.float32), **K) == 0).all()
    with pytest.raises(ValueError, match="odd"):
        normals_from_depth(depth, **K, window=4)


def test_synth_view_matches_the_renderer() -> None:
    view = render_view(3, 240, 320, scene="indoor", num_annotators=1)
    depth, exact, intrinsics = view["depth"], view["normal"], view["meta"]["intrinsics"]
    fitted = normals_from_depth(depth, **intrinsics)
    _assert_unit_and_facing(fitted, depth, intrinsics)

    # One surface: every window sample is in the image, has the centre's (seg, inst) label and an exact normal
    # within 10 deg of the centre's (which drops creases such as box edges and room corners).
    height, width = depth.shape
    label = view["seg"].astype(np.int64) * 65536 + view["inst"]
    one_surface = np.zeros((height, width), bool)
    one_surface[REACH:-REACH, REACH:-REACH] = True
    for dy in range(-REACH, REACH + 1, 2):
        for dx in range(-REACH, REACH + 1, 2):
            rows, cols = slice(REACH + dy, height - REACH + dy), slice(REACH + dx, width - REACH + dx)
            centre = (slice(REACH, -REACH), slice(REACH, -REACH))
            one_surface[centre] &= label[rows, cols] == label[centre]
            one_surface[centre] &= _angles_deg(exact[rows, cols], exact[centre]) < 10.0
    one_surface &= depth > 0
    assert one_surface.mean() > 0.3

    errors, has_normal = _angles_deg(fitted, exact), fitted.any(axis=-1)
    assert has_normal[one_surface].mean() > 0.9  # the rest: receding floor and ceiling, cut by the 5% gate
    assert np.median(errors[one_surface & has_normal]) < 3.0
    # Over all fitted pixels (creases and occlusion edges included) the mean error is about 3.4 deg for this view.
    assert errors[has_normal].mean() < 10.0
