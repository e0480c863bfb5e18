"""Synth video: clips of a synth scene with camera motion and independently moving objects, and exact flow.

A clip of T frames is the scene of `render_view(seed)` seen by a camera that translates and turns about the
vertical, while some objects translate along the ground and turn about their own vertical axis (rigid motions,
so textures stay glued on). Time is centred: frame t is at tau = t - (T - 1) / 2, and at tau = 0 camera and
objects are where the still scene put them, so the middle frame is the composed view.

Flow. `flow(t, s)` is the motion of frame t's pixels into frame s: the surface seen at pixel p of frame t is
seen at p + flow(p) in frame s, computed from the geometry (the 3-D point is moved by its object's motion and
projected by camera s), never estimated from pixels. So sampling frame s at p + flow(t, s)(p) rebuilds frame t
(a backward warp of frame s), up to shading changes and sensor noise. The valid mask is False where that
point is not visible in frame s: hidden behind another surface (occluded), behind camera s or outside its
image. Sky pixels move by the camera rotation alone (points at infinity) and are valid where frame s sees sky.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from components.data.geometry import PerspectiveCamera, backproject, invert_pose, transform_points
from components.data.synth.render import cast_rays, render, sample_view
from components.data.synth.scene import Box, Primitive, Scene, Sphere, Texture

# Streams 0 and 1 are synth's scene and noise streams (seed s pictures the scene of render_view(s)); 3 is the
# panoramas'. The clip's motion comes from its own stream; frame t's sensor noise from [seed, 1, t].
_NOISE_STREAM, _MOTION_STREAM = 1, 4
# A point counts as visible in frame s when the ray towards it first hits a surface this close to it (metres,
# plus a relative part for the float32 depth it was rebuilt from).
_VISIBLE_ATOL, _VISIBLE_RTOL = 1e-3, 1e-4


def yaw_about(pivot: np.ndarray, angle: float, translation: np.ndarray) -> np.ndarray:
    """Pivot (3,), angle (rad) about the vertical through it, then translation (3,) -> 4x4 rigid motion."""
    c, s = np.cos(angle), np.sin(angle)
    motion = np.eye(4)
    motion[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    motion[:3, 3] = pivot - motion[:3, :3] @ pivot + translation
    return motion


@dataclass(frozen=True, eq=False)
class Moved:
    """A primitive displaced by a rigid motion (4x4, applied to its world-frame geometry); texture moves along."""

    base: Primitive
    motion: np.ndarray

    @property
    def class_id(self) -> int:
        return self.base.class_id

    @property
    def inst_id(self) -> int:
        return self.base.inst_id

    @property
    def texture(self) -> Texture:
        return self.base.texture

    @cached_property
    def _inverse(self) -> np.ndarray:
        return invert_pose(self.motion)

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rays (N, 3), (N, 3) -> t (N,) (inf = miss), world normals (N, 3): the base's, moved rigidly."""
        t, normals = self.base.intersect(transform_points(self._inverse, origins), directions @ self.motion[:3, :3])
        return t, normals @ self.motion[:3, :3].T

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> the base primitive's texture frame, so the texture rides with the motion."""
        return self.base.to_local(transform_points(self._inverse, points))


@dataclass(frozen=True)
class ObjectMotion:
    """Constant-rate motion of one object: velocity (3,) m/frame and yaw rate rad/frame about `pivot` (3,)."""

    pivot: tuple[float, float, float]
    velocity: tuple[float, float, float]
    yaw_rate: float

    def at(self, tau: float) -> np.ndarray:
        """Centred time -> 4x4 world motion from the still scene's pose (identity at tau = 0)."""
        return yaw_about(np.asarray(self.pivot), self.yaw_rate * tau, np.asarray(self.velocity) * tau)


@dataclass(frozen=True)
class ClipMotion:
    """Camera velocity (3,) m/frame and yaw rate (rad/frame, about the vertical), plus motions by instance id."""

    camera_velocity: tuple[float, float, float]
    camera_yaw_rate: float
    objects: dict[int, ObjectMotion]


class SynthClip:
    """T frames of a scene under a ClipMotion: frames rendered on demand (cached), exact flow between any two."""

    def __init__(self, scene: Scene, camera: PerspectiveCamera, motion: ClipMotion, num_frames: int,
                 height: int, width: int, noise_seed: int = 0) -> None:
        self.scene, self.camera, self.motion = scene, camera, motion
        self.num_frames, self.height, self.width, self.noise_seed = num_frames, height, width, noise_seed
        self._frames: dict[int, dict[str, np.ndarray]] = {}

    def tau(self, t: int) -> float:
        if not 0 <= t < self.num_frames:
            raise IndexError(f"frame {t} outside a clip of {self.num_frames}")
        return t - (self.num_frames - 1) / 2.0

    def object_motion(self, inst_id: int, t: int) -> np.ndarray:
        """Instance id, frame -> 4x4 motion of that object at frame t (identity for static ones and stuff)."""
        motion = self.motion.objects.get(inst_id)
        return np.eye(4) if motion is None else motion.at(self.tau(t))

    def scene_at(self, t: int) -> Scene:
        primitives = tuple(Moved(p, self.object_motion(p.inst_id, t)) if p.inst_id in self.motion.objects else p
                           for p in self.scene.primitives)
        return dataclasses.replace(self.scene, primitives=primitives)

    def camera_at(self, t: int) -> PerspectiveCamera:
        tau = self.tau(t)
        turn = yaw_about(np.zeros(3), self.motion.camera_yaw_rate * tau, np.asarray(self.motion.camera_velocity) * tau)
        pose = turn.copy()
        pose[:3, :3] = turn[:3, :3] @ self.camera.camera_to_world[:3, :3]
        pose[:3, 3] = self.camera.camera_to_world[:3, 3] + turn[:3, 3]
        return dataclasses.replace(self.camera, camera_to_world=pose)

    def frame(self, t: int) -> dict[str, np.ndarray]:
        """Frame index -> rgb (H,W,3) u8, depth (H,W) f32 z-depth, normal, seg u8, inst u16 (stable instance ids)."""
        if t not in self._frames:
            rng = np.random.default_rng([self.noise_seed, _NOISE_STREAM, t])
            self._frames[t] = render(self.scene_at(t), self.camera_at(t), self.height, self.width, rng)
        return self._frames[t]

    def flow(self, t: int, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames t, s -> flow (H, W, 2) float32 (dx, dy) pixels of frame t's pixels into frame s, and the valid
        mask (H, W) bool: True where that surface point is visible in frame s (see the module docstring)."""
        view, camera_t, camera_s = self.frame(t), self.camera_at(t), self.camera_at(s)
        depth, inst = view["depth"].astype(np.float64), view["inst"]
        c = camera_t
        points = transform_points(c.camera_to_world, backproject(depth, c.fx, c.fy, c.cx, c.cy))
        for inst_id in self.motion.objects:  # each moving object carries its points along: motion_s o motion_t^-1
            on = (inst == inst_id) & (depth > 0)
            if on.any():
                carry = self.object_motion(inst_id, s) @ invert_pose(self.object_motion(inst_id, t))
                points[on] = transform_points(carry, points[on])
        sky = depth <= 0
        _, directions_t = camera_t.rays(self.height, self.width)
        # In camera s: a surface point's position, or a sky direction's (at infinity only rotation acts).
        in_s = transform_points(camera_s.world_to_camera, points)
        in_s[sky] = directions_t[sky] @ camera_s.camera_to_world[:3, :3]
        ahead = in_s[..., 2] > 1e-9
        z = np.where(ahead, in_s[..., 2], 1.0)
        u = camera_s.fx * in_s[..., 0] / z + camera_s.cx
        v = camera_s.fy * in_s[..., 1] / z + camera_s.cy
        rows, cols = np.mgrid[0:self.height, 0:self.width]
        flow = np.stack([u - cols, v - rows], axis=-1)
        inside = ahead & (u >= -0.5) & (u <= self.width - 0.5) & (v >= -0.5) & (v <= self.height - 0.5)
        flow[~ahead] = 0.0
        return flow.astype(np.float32), inside & self._visible(s, points, directions_t, sky)

    def _visible(self, s: int, points: np.ndarray, directions: np.ndarray, sky: np.ndarray) -> np.ndarray:
        """World points (H, W, 3), frame t's ray directions, its sky mask -> (H, W) bool: camera s's ray towards
        each point meets nothing before it; towards a sky direction, meets nothing at all."""
        origin = self.camera_at(s).camera_to_world[:3, 3]
        offset = points - origin
        distance = np.linalg.norm(offset, axis=-1)
        towards = np.where(sky[..., None], directions, offset / np.maximum(distance, 1e-12)[..., None])
        hits = cast_rays(self.scene_at(s), np.broadcast_to(origin, towards.shape).reshape(-1, 3).copy(),
                         towards.reshape(-1, 3))
        reach = hits.t.reshape(sky.shape)
        return np.where(sky, ~np.isfinite(reach), np.abs(reach - distance) <= _VISIBLE_ATOL + _VISIBLE_RTOL * distance)


# Speeds per scene kind (m/frame): the street's camera drives, the room's walks; objects likewise.
_CAMERA_SPEED = {"indoor": (0.0, 0.05), "street": (0.05, 0.3)}
_OBJECT_SPEED = {"indoor": (0.01, 0.06), "street": (0.05, 0.4)}
_CAMERA_YAW_RATE, _OBJECT_YAW_RATE = 0.01, 0.05   # rad/frame, either way
_MOVING_FRACTION = 0.6


def sample_motion(rng: np.random.Generator, scene: Scene, camera: PerspectiveCamera) -> ClipMotion:
    """Random camera motion (mostly along the view, level) and, for about 60 % of the objects, a motion of their
    own along the ground in any direction, turning about their vertical axis."""
    forward = camera.camera_to_world[:3, 2].copy()
    forward[2] = 0.0
    heading = np.arctan2(forward[1], forward[0]) + rng.uniform(-0.6, 0.6)
    speed = rng.uniform(*_CAMERA_SPEED[scene.kind])
    camera_velocity = (speed * np.cos(heading), speed * np.sin(heading), 0.0)
    objects = {}
    for primitive in scene.primitives:
        if primitive.inst_id == 0 or rng.random() > _MOVING_FRACTION:
            continue
        centre = primitive.center if isinstance(primitive, Box | Sphere) else primitive.base
        direction, speed = rng.uniform(0.0, 2.0 * np.pi), rng.uniform(*_OBJECT_SPEED[scene.kind])
        objects[primitive.inst_id] = ObjectMotion(
            (float(centre[0]), float(centre[1]), 0.0), (speed * np.cos(direction), speed * np.sin(direction), 0.0),
            float(rng.uniform(-_OBJECT_YAW_RATE, _OBJECT_YAW_RATE)))
    return ClipMotion(tuple(map(float, camera_velocity)), float(rng.uniform(-_CAMERA_YAW_RATE, _CAMERA_YAW_RATE)),
                      objects)


def sample_clip(seed: int, num_frames: int, height: int, width: int, scene: str = "indoor") -> SynthClip:
    """Seed, length, size, kind -> a SynthClip of render_view(seed)'s scene under a random ClipMotion."""
    scene_, camera = sample_view(seed, height, width, scene)
    motion = sample_motion(np.random.default_rng([seed, _MOTION_STREAM]), scene_, camera)
    return SynthClip(scene_, camera, motion, num_frames, height, width, noise_seed=seed)
