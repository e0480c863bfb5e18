"""Tests of synth video against independent geometry: analytic flow of a translating and of a turning camera,
backward warping by the true flow, depth consistency of valid and occluded pixels, stable instance ids."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from components.data.synth.render import cast_rays, sample_view
from components.data.synth.video import ClipMotion, SynthClip, sample_clip

HEIGHT, WIDTH, FRAMES = 48, 64, 11
CASES = [(seed, kind) for kind in ("indoor", "street") for seed in (0, 1, 2)]


@pytest.fixture(scope="module")
def clips() -> dict:
    return {case: sample_clip(case[0], FRAMES, HEIGHT, WIDTH, case[1]) for case in CASES}


def _still_clip(seed: int, kind: str, velocity: np.ndarray, yaw_rate: float) -> SynthClip:
    scene, camera = sample_view(seed, HEIGHT, WIDTH, kind)
    return SynthClip(scene, camera, ClipMotion(tuple(velocity), yaw_rate, {}), FRAMES, HEIGHT, WIDTH)


@pytest.mark.parametrize("kind", ["indoor", "street"])
def test_static_scene_under_camera_translation_has_the_analytic_flow(kind: str) -> None:
    scene, camera = sample_view(4, HEIGHT, WIDTH, kind)
    step = 0.07  # m/frame along the camera's own x axis: u moves by -fx * step * gap / z, v stays
    clip = _still_clip(4, kind, step * camera.camera_to_world[:3, 0], 0.0)
    for t, s in ((5, 6), (5, 1), (0, 10)):
        flow, valid = clip.flow(t, s)
        depth = clip.frame(t)["depth"]
        surface = depth > 0
        expected_u = -camera.fx * step * (s - t) / depth[surface]
        np.testing.assert_allclose(flow[..., 0][surface], expected_u, atol=1e-3)
        np.testing.assert_allclose(flow[..., 1][surface], 0.0, atol=1e-3)
        np.testing.assert_allclose(flow[~surface], 0.0, atol=1e-4)  # sky: no rotation, no motion
        assert valid.mean() > 0.5


def test_turning_camera_moves_pixels_by_the_rotation_homography() -> None:
    rate = np.radians(1.5)
    clip = _still_clip(2, "street", np.zeros(3), rate)
    t, s = 3, 7
    a, b = clip.camera_at(t), clip.camera_at(s)
    intrinsics = np.array([[a.fx, 0, a.cx], [0, a.fy, a.cy], [0, 0, 1.0]])
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.stack([cols, rows, np.ones_like(cols)], axis=-1).reshape(-1, 3).T.astype(float)
    homography = intrinsics @ b.camera_to_world[:3, :3].T @ a.camera_to_world[:3, :3] @ np.linalg.inv(intrinsics)
    mapped = homography @ pixels
    expected = (mapped[:2] / mapped[2]).T.reshape(HEIGHT, WIDTH, 2) - np.stack([cols, rows], axis=-1)
    flow, _ = clip.flow(t, s)
    np.testing.assert_allclose(flow, expected, atol=1e-3)  # depth-independent, sky included


def _warp(image: np.ndarray, flow: np.ndarray, order: int) -> np.ndarray:
    """Sample image (H, W[, C]) at p + flow(p): the backward warp, written with scipy, not the project's warp."""
    rows, cols = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    coords = [rows + flow[..., 1], cols + flow[..., 0]]
    if image.ndim == 2:
        return map_coordinates(image, coords, order=order, mode="nearest")
    return np.stack([map_coordinates(image[..., c], coords, order=order, mode="nearest")
                     for c in range(image.shape[2])], axis=-1)


def test_warping_a_later_frame_by_the_true_flow_rebuilds_the_frame(clips: dict) -> None:
    for case, clip in clips.items():
        assert clip.motion.objects, case  # some objects move in every sampled clip
        for t in (4, 7):
            flow, valid = clip.flow(t, t + 3)
            moved = valid & (np.linalg.norm(flow, axis=-1) >= 1.0)  # where the warp has work to do
            frame, later = clip.frame(t)["rgb"].astype(float), clip.frame(t + 3)["rgb"].astype(float)
            error = np.abs(_warp(later, flow, order=1) - frame).mean(axis=-1)
            identity = np.abs(later - frame).mean(axis=-1)
            # Sensor noise (sigma <= 3/255 per frame), shading of turning objects and bilinear resampling of
            # aliased textures remain: a few grey levels.
            assert moved.mean() > 0.3 and error[moved].mean() < 6.0, case
            assert error[moved].mean() < 0.5 * identity[moved].mean(), case
            same = _warp(clip.frame(t + 3)["inst"], flow, order=0) == clip.frame(t)["inst"]
            assert same[valid].mean() > 0.97, case  # the flow lands on the same object (boundaries aside)


def _moved_points(clip: SynthClip, t: int, s: int) -> np.ndarray:
    """Frame t's surface points (H, W, 3), carried to frame s's time by their objects' motions (world frame)."""
    a = clip.camera_at(t)
    depth = clip.frame(t)["depth"].astype(float)
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    camera_points = np.stack([(cols - a.cx) / a.fx * depth, (rows - a.cy) / a.fy * depth, depth], -1)
    world = camera_points @ a.camera_to_world[:3, :3].T + a.camera_to_world[:3, 3]
    inst = clip.frame(t)["inst"]
    for inst_id in clip.motion.objects:
        carry = clip.object_motion(inst_id, s) @ np.linalg.inv(clip.object_motion(inst_id, t))
        world[inst == inst_id] = world[inst == inst_id] @ carry[:3, :3].T + carry[:3, 3]
    return world


def test_rays_through_the_landing_points_meet_the_moved_surface_or_an_occluder(clips: dict) -> None:
    """Cast camera s's ray through p + flow(p) (the inverse of the projection the flow used): at valid pixels
    it meets frame t's point, moved; at occluded ones it meets a nearer surface first."""
    occluded_total = 0
    for case, clip in clips.items():
        t, s = 2, 7
        flow, valid = clip.flow(t, s)
        b = clip.camera_at(s)
        rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
        u, v = cols + flow[..., 0], rows + flow[..., 1]
        local = np.stack([(u - b.cx) / b.fx, (v - b.cy) / b.fy, np.ones_like(u)], axis=-1).reshape(-1, 3)
        directions = local / np.linalg.norm(local, axis=1, keepdims=True) @ b.camera_to_world[:3, :3].T
        origin = b.camera_to_world[:3, 3]
        hits = cast_rays(clip.scene_at(s), np.broadcast_to(origin, directions.shape).copy(), directions)
        hit_points = hits.points.reshape(HEIGHT, WIDTH, 3)
        target = _moved_points(clip, t, s)
        surface = clip.frame(t)["depth"] > 0  # not sky
        seen = valid & surface
        gap = np.linalg.norm(hit_points - target, axis=-1)
        assert seen.any() and np.percentile(gap[seen], 99) < 1e-3, case
        inside = (u >= -0.5) & (u <= WIDTH - 0.5) & (v >= -0.5) & (v <= HEIGHT - 0.5)
        hidden = ~valid & surface & inside
        occluded_total += hidden.sum()
        reach = hits.t.reshape(HEIGHT, WIDTH)
        distance = np.linalg.norm(target - origin, axis=-1)
        assert np.all(reach[hidden] < distance[hidden] - 1e-3), case
    assert occluded_total > 100  # the clips do contain occlusions


def test_instance_ids_are_stable_and_keep_their_class(clips: dict) -> None:
    for case, clip in clips.items():
        class_of = {}
        for t in range(FRAMES):
            frame = clip.frame(t)
            for inst_id in np.unique(frame["inst"]):
                if inst_id == 0:
                    continue
                classes = np.unique(frame["seg"][frame["inst"] == inst_id])
                assert len(classes) == 1, case
                assert class_of.setdefault(int(inst_id), int(classes[0])) == int(classes[0]), case
        assert set(class_of) <= {p.inst_id for p in clip.scene.primitives}, case


def test_clips_are_deterministic_and_frames_differ() -> None:
    first, again = sample_clip(7, 5, HEIGHT, WIDTH, "indoor"), sample_clip(7, 5, HEIGHT, WIDTH, "indoor")
    for t in range(5):
        assert np.array_equal(first.frame(t)["rgb"], again.frame(t)["rgb"])
    assert np.array_equal(first.flow(0, 4)[0], again.flow(0, 4)[0])
    assert not np.array_equal(first.frame(0)["rgb"], first.frame(1)["rgb"])
    assert not np.array_equal(first.frame(0)["rgb"], sample_clip(8, 5, HEIGHT, WIDTH, "indoor").frame(0)["rgb"])
    with pytest.raises(IndexError):
        first.frame(5)
