"""Camera models and ray geometry: poses, pixel rays in the world frame, depth/normal conventions, back-projection.

Conventions. World frame: z up, the floor/ground is the plane z = 0. Camera frame (OpenCV):
x right, y down, z forward. Pixel (u, v) = (column, row) has its centre at integer coordinates,
so a perspective camera projects a camera-frame point to u = fx * x / z + cx, v = fy * y / z + cy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def pose_matrix(position: np.ndarray, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Position (3,) and angles in radians -> 4x4 camera_to_world.

    yaw: heading of the optical axis about world z (0 looks along world +x); pitch > 0 looks down;
    roll: rotation about the optical axis.
    """
    cy, sy = np.cos(yaw), np.sin(yaw)
    # Columns are the camera axes in world coordinates: right, down, forward (a right-handed frame).
    level = np.array([[sy, 0.0, cy], [-cy, 0.0, sy], [0.0, -1.0, 0.0]])
    cp, sp = np.cos(pitch), np.sin(pitch)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]])
    cr, sr = np.cos(roll), np.sin(roll)
    spin = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    pose = np.eye(4)
    pose[:3, :3] = level @ tilt @ spin
    pose[:3, 3] = position
    return pose


def invert_pose(pose: np.ndarray) -> np.ndarray:
    """4x4 rigid transform -> its inverse (4x4), exact for rotation + translation."""
    inverse = np.eye(4)
    inverse[:3, :3] = pose[:3, :3].T
    inverse[:3, 3] = -pose[:3, :3].T @ pose[:3, 3]
    return inverse


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """4x4 transform, points (..., 3) -> transformed points (..., 3)."""
    return points @ transform[:3, :3].T + transform[:3, 3]


def backproject(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """z-depth (H, W) and intrinsics -> camera-frame points (H, W, 3); invalid depth 0 gives the origin."""
    height, width = depth.shape
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    z = depth.astype(np.float64)
    return np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=-1)


@dataclass(frozen=True, eq=False)
class PerspectiveCamera:
    """Pinhole camera: intrinsics in pixels and a 4x4 camera_to_world pose; z-depth, camera-frame normals."""

    fx: float
    fy: float
    cx: float
    cy: float
    camera_to_world: np.ndarray  # (4, 4)

    @classmethod
    def from_hfov(cls, height: int, width: int, hfov_deg: float, camera_to_world: np.ndarray) -> PerspectiveCamera:
        """Image size and horizontal field of view (degrees) -> camera with square pixels, centred principal point."""
        focal = 0.5 * width / np.tan(np.radians(hfov_deg) / 2.0)
        pose = np.asarray(camera_to_world, dtype=float)
        return cls(float(focal), float(focal), (width - 1) / 2.0, (height - 1) / 2.0, pose)

    @property
    def world_to_camera(self) -> np.ndarray:
        """-> 4x4 world_to_camera transform."""
        return invert_pose(self.camera_to_world)

    @property
    def intrinsics(self) -> dict[str, float]:
        """-> {fx, fy, cx, cy} as plain floats (JSON-serialisable)."""
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}

    def rays(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Image size -> world-frame ray origins (H, W, 3) and unit directions (H, W, 3) through pixel centres."""
        v, u = np.mgrid[0:height, 0:width].astype(np.float64)
        local = np.stack([(u - self.cx) / self.fx, (v - self.cy) / self.fy, np.ones_like(u)], axis=-1)
        local /= np.linalg.norm(local, axis=-1, keepdims=True)
        directions = local @ self.camera_to_world[:3, :3].T
        origins = np.broadcast_to(self.camera_to_world[:3, 3], directions.shape).copy()
        return origins, directions

    def depth_of(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> z-depth along the optical axis (...), as NYUv2 stores it."""
        return transform_points(self.world_to_camera, points)[..., 2]

    def normals_of(self, normals: np.ndarray) -> np.ndarray:
        """World-frame normals (..., 3) -> the camera-frame normals this camera reports (..., 3)."""
        return normals @ self.camera_to_world[:3, :3]


# Ray-primitive intersections: rays are (N, 3) origins and unit directions; each returns the first hit
# parameter t (N,) beyond `min_t` (inf = miss) and outward normals (N, 3) at the hit.


def intersect_plane(origins: np.ndarray, directions: np.ndarray, normal: np.ndarray, offset: float,
                    min_t: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Rays and the plane {p : normal . p = offset} -> t (N,), normals (N, 3) (the plane's own normal)."""
    facing = directions @ normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (offset - origins @ normal) / facing
    t = np.where(np.isfinite(t) & (t > min_t), t, np.inf)
    return t, np.broadcast_to(normal, origins.shape)


def intersect_box(origins: np.ndarray, directions: np.ndarray, half_size: np.ndarray,
                  min_t: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Rays in the box frame and half extents (3,) of the box centred at the origin -> entry t (N,), normals (N, 3)."""
    # (3, N) contiguous rows make the per-axis reductions below cheap elementwise maxima.
    d, o = np.ascontiguousarray(directions.T), np.ascontiguousarray(origins.T)
    with np.errstate(divide="ignore", invalid="ignore"):  # axis-parallel rays: +-inf slabs (nan only on a face)
        t_lo = (-half_size[:, None] - o) / d
        t_hi = (half_size[:, None] - o) / d
    t_entry, t_exit = np.minimum(t_lo, t_hi), np.maximum(t_lo, t_hi)
    t_near = np.maximum(np.maximum(t_entry[0], t_entry[1]), t_entry[2])
    t_far = np.minimum(np.minimum(t_exit[0], t_exit[1]), t_exit[2])
    t = np.where((t_near <= t_far) & (t_near > min_t), t_near, np.inf)
    normals = (t_entry == t_near) * -np.sign(d)  # the face whose slab was entered last
    return t, np.ascontiguousarray(normals.T)


def intersect_sphere(origins: np.ndarray, directions: np.ndarray, center: np.ndarray, radius: float,
                     min_t: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Rays (from outside) and a sphere -> first hit t (N,), normals (N, 3)."""
    o = origins - center
    half_b = np.einsum("ij,ij->i", o, directions)
    disc = half_b**2 - (np.einsum("ij,ij->i", o, o) - radius**2)
    t = -half_b - np.sqrt(np.maximum(disc, 0.0))
    t = np.where((disc >= 0) & (t > min_t), t, np.inf)
    normals = (o + np.where(np.isfinite(t), t, 0.0)[:, None] * directions) / radius
    return t, normals


def intersect_cylinder(origins: np.ndarray, directions: np.ndarray, radius: float, height: float,
                       min_t: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Rays (from outside) in the frame of a capped cylinder around +z from z=0 to z=height -> t (N,), normals."""
    o, d = origins, directions
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    half_b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
    disc = half_b**2 - a * (o[:, 0] ** 2 + o[:, 1] ** 2 - radius**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_side = (-half_b - np.sqrt(np.maximum(disc, 0.0))) / a
        t_caps = [(cap_z - o[:, 2]) / d[:, 2] for cap_z in (0.0, height)]
    z_side = o[:, 2] + np.where(np.isfinite(t_side), t_side, 0.0) * d[:, 2]
    t_side = np.where((disc >= 0) & (a > 1e-12) & (t_side > min_t) & (z_side >= 0) & (z_side <= height),
                      t_side, np.inf)
    for i, t_cap in enumerate(t_caps):
        xy = o[:, :2] + np.where(np.isfinite(t_cap), t_cap, 0.0)[:, None] * d[:, :2]
        inside = np.einsum("ij,ij->i", xy, xy) <= radius**2
        t_caps[i] = np.where(np.isfinite(t_cap) & (t_cap > min_t) & inside, t_cap, np.inf)
    t = np.minimum(t_side, np.minimum(*t_caps))
    on_side = np.isfinite(t) & (t == t_side)
    normals = np.zeros_like(o)
    side_xy = (o[:, :2] + np.where(on_side, t, 0.0)[:, None] * d[:, :2]) / radius
    normals[:, :2] = np.where(on_side[:, None], side_xy, 0.0)
    normals[:, 2] = np.where(on_side, 0.0, np.where(t == t_caps[1], 1.0, -1.0))
    return t, normals
