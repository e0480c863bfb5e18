"""Equirectangular panoramas of the synth scenes, with normals in the global (world) frame like Stanford-2D-3D.

Conventions. World frame: z up (components.data.geometry). Azimuth phi is measured CLOCKWISE about +z seen from
above, from world +x: the horizontal direction at phi is (cos phi, -sin phi, 0). Clockwise makes increasing
columns turn the viewer to the right, so the panorama is not mirrored. Pixel (row v, column u) of an H x W
panorama looks along azimuth yaw + 2*pi*(u + 0.5)/W and elevation pi/2 - pi*(v + 0.5)/H (top row up).
Depth is the Euclidean range from the camera centre in metres (meta "depth": "range"), not a z-depth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.data.geometry import pose_matrix
from components.data.synth.render import CLASS_NAMES, render
from components.data.synth.scene import Scene, sample_scene

# Streams 0 and 1 are synth's scene and noise streams, so seed s pictures the same room as render_view(s);
# the panorama's own draws (its yaw) come from a stream synth does not use.
_SCENE_STREAM, _NOISE_STREAM, _PANORAMA_STREAM = 0, 1, 3


@dataclass(frozen=True, eq=False)
class EquirectangularCamera:
    """Full-sphere camera at `position` (3,); `yaw` is the azimuth of the panorama's left edge (radians)."""

    position: np.ndarray
    yaw: float

    def azimuths(self, width: int) -> np.ndarray:
        """Panorama width -> viewing azimuth (W,) of each column centre, clockwise from +x."""
        return self.yaw + 2.0 * np.pi * (np.arange(width) + 0.5) / width

    def rays(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Panorama size -> world-frame ray origins (H, W, 3) and unit directions (H, W, 3) through pixel centres."""
        elevation = np.pi / 2.0 - np.pi * (np.arange(height) + 0.5) / height
        azimuth = self.azimuths(width)
        cos_e = np.cos(elevation)[:, None]
        directions = np.stack([cos_e * np.cos(azimuth), -cos_e * np.sin(azimuth),
                               np.broadcast_to(np.sin(elevation)[:, None], (height, width))], axis=-1)
        origins = np.broadcast_to(self.position, directions.shape).copy()
        return origins, directions

    def depth_of(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> range (...): Euclidean distance from the camera centre."""
        return np.linalg.norm(points - self.position, axis=-1)

    def normals_of(self, normals: np.ndarray) -> np.ndarray:
        """World normals (..., 3) -> the same normals: a panorama reports them in the global frame."""
        return normals

    def column_rotations(self, width: int) -> np.ndarray:
        """Width -> (W, 3, 3) camera_to_world rotations of the level perspective cameras looking along each column."""
        # pose_matrix's yaw turns counter-clockwise, the panorama's azimuth clockwise.
        return np.stack([pose_matrix(self.position, -azimuth, 0.0, 0.0)[:3, :3] for azimuth in self.azimuths(width)])


def exact_local_normals(normal_global: np.ndarray, camera: EquirectangularCamera) -> np.ndarray:
    """Global normals (H, W, 3) and the true camera -> (H, W, 3) in each column's level camera frame (x right,
    y down, z forward, as PerspectiveCamera.normals_of reports), zeros kept: the ground truth for panorama.py."""
    rotations = camera.column_rotations(normal_global.shape[1])
    return np.einsum("hwi,wij->hwj", normal_global.astype(np.float64), rotations)


def sample_panorama(seed: int, scene: str = "indoor") -> tuple[Scene, EquirectangularCamera]:
    """Seed, scene kind -> (Scene, EquirectangularCamera): synth's scene for that seed seen from its viewpoint's
    position (inside the room for indoor scenes) with a uniformly random yaw."""
    scene_ = sample_scene(np.random.default_rng([seed, _SCENE_STREAM]), scene)
    yaw = float(np.random.default_rng([seed, _PANORAMA_STREAM]).uniform(0.0, 2.0 * np.pi))
    return scene_, EquirectangularCamera(scene_.viewpoint[:3, 3].copy(), yaw)


def render_panorama(seed: int, height: int, width: int, scene: str = "indoor") -> dict:
    """Seed, size (W = 2H), kind -> sample: rgb u8, depth (range) f32, normal (global) f32, seg u8, inst u16, meta."""
    if width != 2 * height:
        raise ValueError(f"an equirectangular panorama has W = 2H, got {height} x {width}")
    scene_, camera = sample_panorama(seed, scene)
    # synth.render only calls the camera's rays, depth_of and normals_of, which this camera provides.
    view: dict = render(scene_, camera, height, width, np.random.default_rng([seed, _NOISE_STREAM]))
    view["meta"] = {"scene": scene, "seed": int(seed), "height": int(height), "width": int(width),
                    "projection": "equirectangular", "yaw": camera.yaw, "camera_position": camera.position.tolist(),
                    "azimuth": "clockwise about +z from +x; column u looks along yaw + 2*pi*(u + 0.5)/W",
                    "class_names": list(CLASS_NAMES), "depth": "range", "normal_frame": "global"}
    return view
