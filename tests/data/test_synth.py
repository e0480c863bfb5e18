"""Tests of the synth renderer against independent geometry: back-projection, surfaces, finite-difference normals,
brute-force ray marching, label-change boundaries and dataset-level statistics."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from skimage.segmentation import find_boundaries

from components.data.geometry import (PerspectiveCamera, backproject, intersect_box, intersect_cylinder,
                                      intersect_sphere, pose_matrix, transform_points)
from components.data.synth.render import CLASS_NAMES, render_view, sample_view
from components.data.synth.scene import FLOOR, SKY, STUFF_CLASSES, Box, Cylinder, Plane, Primitive, Sphere
from components.errors import PixelpredError

HEIGHT, WIDTH, ANNOTATORS = 48, 64, 3
CASES = [(seed, kind) for kind in ("indoor", "street") for seed in (0, 1, 2, 3)]


@pytest.fixture(scope="module")
def views() -> dict:
    return {case: render_view(case[0], HEIGHT, WIDTH, case[1], ANNOTATORS) for case in CASES}


def _world_points(view: dict) -> np.ndarray:
    """Back-project depth with the meta intrinsics and pose: the consumer's path, not the renderer's."""
    k = view["meta"]["intrinsics"]
    camera_points = backproject(view["depth"], k["fx"], k["fy"], k["cx"], k["cy"])
    return transform_points(np.array(view["meta"]["camera_to_world"]), camera_points)


def _surface_residual(primitive: Primitive, points: np.ndarray) -> np.ndarray:
    """Distance-like residual of world points (N, 3) from the primitive's surface, from its parameters alone."""
    if isinstance(primitive, Plane):
        return np.abs(points @ primitive.normal - primitive.offset)
    if isinstance(primitive, Sphere):
        return np.abs(np.linalg.norm(points - primitive.center, axis=1) - primitive.radius)
    if isinstance(primitive, Cylinder):
        local = points - primitive.base
        side = np.abs(np.hypot(local[:, 0], local[:, 1]) - primitive.radius)
        cap = np.minimum(np.abs(local[:, 2]), np.abs(local[:, 2] - primitive.height))
        return np.minimum(side, cap)
    assert isinstance(primitive, Box)
    c, s = np.cos(primitive.yaw), np.sin(primitive.yaw)
    local = (points - primitive.center) @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return np.abs(np.abs(local) - primitive.half_size).min(axis=1)


@pytest.mark.parametrize("case", CASES)
def test_same_seed_same_bytes(views: dict, case: tuple[int, str]) -> None:
    again = render_view(case[0], HEIGHT, WIDTH, case[1], ANNOTATORS)
    for key in ("rgb", "depth", "normal", "seg", "inst", "edge"):
        assert again[key].tobytes() == views[case][key].tobytes(), key
    assert json.dumps(again["meta"]) == json.dumps(views[case]["meta"])


def _digest(view: dict) -> str:
    arrays = b"".join(view[key].tobytes() for key in ("rgb", "depth", "normal", "seg", "inst", "edge"))
    return hashlib.sha256(arrays + json.dumps(view["meta"]).encode()).hexdigest()


def test_same_bytes_in_a_fresh_interpreter(views: dict) -> None:
    """No hidden state (hash seeds, import order, caches) may leak into the output."""
    code = ("import sys, hashlib, json; sys.path.insert(0, %r); from components.data.synth.render import render_view; "
            "v = render_view(3, %d, %d, 'street', %d); "
            "a = b''.join(v[k].tobytes() for k in ('rgb', 'depth', 'normal', 'seg', 'inst', 'edge')); "
            "print(hashlib.sha256(a + json.dumps(v['meta']).encode()).hexdigest())"
            % (str(Path(__file__).resolve().parents[2]), HEIGHT, WIDTH, ANNOTATORS))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert result.stdout.strip() == _digest(views[(3, "street")])


def test_different_seeds_differ(views: dict) -> None:
    for kind in ("indoor", "street"):
        a, b = views[(0, kind)], views[(1, kind)]
        assert not np.array_equal(a["rgb"], b["rgb"]) and not np.array_equal(a["depth"], b["depth"])


def test_output_schema(views: dict) -> None:
    for (seed, kind), view in views.items():
        assert view["rgb"].shape == (HEIGHT, WIDTH, 3) and view["rgb"].dtype == np.uint8
        assert view["depth"].shape == (HEIGHT, WIDTH) and view["depth"].dtype == np.float32
        assert view["normal"].shape == (HEIGHT, WIDTH, 3) and view["normal"].dtype == np.float32
        assert view["seg"].dtype == np.uint8 and view["inst"].dtype == np.uint16
        assert view["edge"].shape == (ANNOTATORS, HEIGHT, WIDTH) and view["edge"].dtype == np.uint8
        assert set(np.unique(view["edge"])) <= {0, 1}
        meta = json.loads(json.dumps(view["meta"]))
        assert meta["scene"] == kind and meta["seed"] == seed and meta["class_names"] == list(CLASS_NAMES)
        assert (meta["height"], meta["width"]) == (HEIGHT, WIDTH)
        hfov = 2 * np.degrees(np.arctan(WIDTH / 2 / meta["intrinsics"]["fx"]))
        assert 60 <= hfov <= 75 and meta["intrinsics"]["cx"] == (WIDTH - 1) / 2


def test_labels_and_validity(views: dict) -> None:
    for view in views.values():
        seg, inst, depth, normal = view["seg"], view["inst"], view["depth"], view["normal"]
        assert seg.max() < len(CLASS_NAMES)
        stuff = np.isin(seg, list(STUFF_CLASSES))
        np.testing.assert_array_equal(inst == 0, stuff)
        for i in np.unique(inst[inst > 0]):
            assert len(np.unique(seg[inst == i])) == 1  # an instance has one class
        valid = depth > 0
        np.testing.assert_array_equal(valid, np.abs(normal).sum(axis=2) > 0)
        np.testing.assert_array_equal(~valid, seg == SKY)


def test_floor_points_lie_on_the_ground_plane(views: dict) -> None:
    for view in views.values():
        floor = view["seg"] == FLOOR
        assert floor.sum() > 50
        height = _world_points(view)[floor][:, 2]
        assert np.all(np.abs(height) <= 1e-5 * view["depth"][floor])  # float32 depth: ~1e-7 relative


@pytest.mark.parametrize("case", CASES)
def test_every_surface_point_lies_on_a_primitive_of_its_label(views: dict, case: tuple[int, str]) -> None:
    view = views[case]
    scene, _ = sample_view(case[0], HEIGHT, WIDTH, case[1])
    points, depth = _world_points(view), view["depth"]
    valid = depth > 0
    for seg, inst in {(int(a), int(b)) for a, b in zip(view["seg"][valid], view["inst"][valid])}:
        pixels = valid & (view["seg"] == seg) & (view["inst"] == inst)
        candidates = [p for p in scene.primitives if (p.class_id, p.inst_id) == (seg, inst)]
        residual = np.min([_surface_residual(p, points[pixels]) for p in candidates], axis=0)
        assert np.all(residual <= 1e-5 * np.maximum(depth[pixels], 1.0)), (seg, inst)


@pytest.mark.parametrize("case", CASES)
def test_normals_agree_with_depth(views: dict, case: tuple[int, str]) -> None:
    view = views[case]
    normal, depth = view["normal"].astype(np.float64), view["depth"]
    k = view["meta"]["intrinsics"]
    points = backproject(depth, k["fx"], k["fy"], k["cx"], k["cy"])
    finite = np.cross(points[1:-1, 2:] - points[1:-1, :-2], points[2:, 1:-1] - points[:-2, 1:-1])
    finite /= np.linalg.norm(finite, axis=2, keepdims=True) + 1e-30
    finite *= np.where(np.sum(finite * points[1:-1, 1:-1], axis=2, keepdims=True) > 0, -1.0, 1.0)  # face camera
    label = view["seg"].astype(np.int64) * 65536 + view["inst"]
    uniform = (ndimage.maximum_filter(label, 3) == ndimage.minimum_filter(label, 3))[1:-1, 1:-1]
    uniform &= (ndimage.minimum_filter(depth, 3) > 0)[1:-1, 1:-1]
    angles = np.degrees(np.arccos(np.clip(np.sum(finite * normal[1:-1, 1:-1], axis=2), -1.0, 1.0)))
    assert uniform.sum() > 500
    assert np.median(angles[uniform]) < 2.0 and np.percentile(angles[uniform], 90) < 5.0
    # Away from creases inside one label (box edges, wall corners) the agreement is tight almost everywhere.
    height, width = depth.shape
    neighbour_cosines = [np.sum(normal[1:-1, 1:-1] * normal[1 + dv:height - 1 + dv, 1 + du:width - 1 + du], axis=2)
                         for dv in (-1, 0, 1) for du in (-1, 0, 1)]
    smooth = uniform & (np.min(neighbour_cosines, axis=0) > np.cos(np.radians(2.0)))
    assert smooth.sum() > 300 and np.percentile(angles[smooth], 95) < 2.0


def test_normals_are_unit_and_face_the_camera(views: dict) -> None:
    for view in views.values():
        valid = view["depth"] > 0
        normal = view["normal"][valid]
        np.testing.assert_allclose(np.linalg.norm(normal, axis=1), 1.0, atol=1e-5)
        k = view["meta"]["intrinsics"]
        rays = backproject(np.ones_like(view["depth"]), k["fx"], k["fy"], k["cx"], k["cy"])[valid]
        assert np.all(np.sum(normal * rays, axis=1) < 0)


def _brute_force_boundaries(label: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another label (both sides of every change), by explicit loops."""
    height, width = label.shape
    out = np.zeros(label.shape, dtype=bool)
    for v in range(height):
        for u in range(width):
            for dv, du in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                if 0 <= v + dv < height and 0 <= u + du < width and label[v + dv, u + du] != label[v, u]:
                    out[v, u] = True
    return out


@pytest.mark.parametrize("case", CASES)
def test_exact_boundaries_lie_on_label_changes(views: dict, case: tuple[int, str]) -> None:
    view = views[case]
    label = view["seg"].astype(np.int64) * 65536 + view["inst"]
    edge = view["edge"][0].astype(bool)
    both_sides = _brute_force_boundaries(label)
    np.testing.assert_array_equal(both_sides, find_boundaries(label, connectivity=1, mode="thick"))
    assert np.all(both_sides[edge])  # every edge pixel touches a label change
    vertical = label[1:] != label[:-1]
    horizontal = label[:, 1:] != label[:, :-1]
    assert np.all(edge[1:][vertical] | edge[:-1][vertical])  # every change is covered by one of its pixels
    assert np.all(edge[:, 1:][horizontal] | edge[:, :-1][horizontal])
    assert edge.sum() < both_sides.sum()  # thin: one side of each change, not both


def test_jittered_annotators_stay_near_the_exact_one(views: dict) -> None:
    for view in views.values():
        exact = view["edge"][0].astype(bool)
        distance_to_exact = ndimage.distance_transform_edt(~exact)
        for human in view["edge"][1:].astype(bool):
            assert not np.array_equal(human, exact)
            assert np.all(distance_to_exact[human] <= 1.0)
            recall = np.mean(ndimage.distance_transform_edt(~human)[exact] <= 2.0)
            assert recall > 0.6
        assert not np.array_equal(view["edge"][1], view["edge"][2])


def test_textures_put_gradients_inside_regions(views: dict) -> None:
    """A Sobel detector must not recover the boundaries trivially: many strong gradients lie off them."""
    off_boundary = []
    for view in views.values():
        grey = view["rgb"].astype(np.float64).mean(axis=2)
        magnitude = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))
        strong = magnitude >= np.percentile(magnitude, 90)
        near_boundary = ndimage.binary_dilation(view["edge"][0].astype(bool))
        off_boundary.append(np.mean(~near_boundary[strong]))
    assert np.mean(off_boundary) > 0.2


def test_dataset_statistics_are_not_degenerate() -> None:
    segs, medians, depths = [], [], []
    for seed in range(12):
        for kind in ("indoor", "street"):
            view = render_view(100 + seed, 32, 48, kind, 1)
            segs.append(view["seg"])
            valid = view["depth"][view["depth"] > 0]
            medians.append(np.median(valid))
            depths.append(valid)
    segs = np.stack(segs)
    frequency = np.bincount(segs.ravel(), minlength=len(CLASS_NAMES)) / segs.size
    assert np.all(frequency > 0.01) and frequency.max() < 0.45
    # Predicting the majority class everywhere scores IoU = its frequency on that class and 0 on the others.
    assert frequency.max() / len(CLASS_NAMES) < 0.1
    assert np.percentile(medians, 90) / np.percentile(medians, 10) > 2.5
    everything = np.concatenate(depths)
    assert everything.min() < 2.0 and everything.max() > 60.0


def test_unknown_scene_kind_is_rejected() -> None:
    with pytest.raises(PixelpredError, match="scene kind"):
        render_view(0, 32, 32, "forest", 1)


def test_camera_rays_project_back_to_pixel_centres() -> None:
    pose = pose_matrix(np.array([1.0, -2.0, 1.5]), 0.7, 0.2, -0.05)
    camera = PerspectiveCamera.from_hfov(6, 8, 70.0, pose)
    origins, directions = camera.rays(6, 8)
    camera_points = transform_points(camera.world_to_camera, origins + 3.7 * directions)
    u = camera.fx * camera_points[..., 0] / camera_points[..., 2] + camera.cx
    v = camera.fy * camera_points[..., 1] / camera_points[..., 2] + camera.cy
    np.testing.assert_allclose(np.stack([v, u]), np.mgrid[0:6, 0:8], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=-1), 1.0)
    rotation = pose[:3, :3]
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rotation), 1.0) and rotation[2, 2] < 0  # pitch > 0 looks down
    np.testing.assert_allclose(camera.world_to_camera @ pose, np.eye(4), atol=1e-12)


_HALF = np.array([0.8, 0.5, 0.6])
SHAPES = {  # analytic intersection, and an inside test that ray marching probes independently
    "box": (partial(intersect_box, half_size=_HALF), lambda p: np.all(np.abs(p) <= _HALF, axis=-1)),
    "sphere": (partial(intersect_sphere, center=np.zeros(3), radius=0.9), lambda p: np.linalg.norm(p, axis=-1) <= 0.9),
    "cylinder": (partial(intersect_cylinder, radius=0.7, height=1.1),
                 lambda p: (np.hypot(p[..., 0], p[..., 1]) <= 0.7) & (p[..., 2] >= 0) & (p[..., 2] <= 1.1)),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_intersections_match_ray_marching(shape: str) -> None:
    intersect, inside = SHAPES[shape]
    rng = np.random.default_rng(7)
    origins = rng.uniform(-4, 4, (200, 3)) + np.array([0.0, 0.0, 6.0])
    targets = rng.uniform(-1.2, 1.2, (200, 3)) + np.array([0.0, 0.0, 0.5])
    directions = (targets - origins) / np.linalg.norm(targets - origins, axis=1, keepdims=True)
    t, normals = intersect(origins, directions)
    steps = np.arange(0.0, 14.0, 2e-3)
    marched = inside(origins[:, None] + steps[None, :, None] * directions[:, None])
    first = np.where(marched.any(axis=1), steps[np.argmax(marched, axis=1)], np.inf)
    hit = np.isfinite(first)
    assert 40 < hit.sum() < 180
    assert np.sum(np.isfinite(t) != hit) <= 2  # only grazing rays may slip between marching steps
    hit &= np.isfinite(t)
    np.testing.assert_allclose(t[hit], first[hit], atol=2.1e-3)
    np.testing.assert_allclose(np.linalg.norm(normals[hit], axis=1), 1.0)
    assert np.all(np.sum(normals[hit] * directions[hit], axis=1) < 0)  # outward normal faces the incoming ray
