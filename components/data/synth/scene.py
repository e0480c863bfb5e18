"""Procedural scenes for the synth renderer: primitives (class, instance, texture, pose) and the scene sampler.

World frame: z up, floor/ground at z = 0 (see components.data.geometry). Each primitive carries a semantic
class id (index into CLASS_NAMES), an instance id (0 for stuff) and a solid texture evaluated in its local
frame, so textures stay glued to objects when later sessions move them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from components.data import geometry
from components.data.geometry import pose_matrix
from components.errors import PixelpredError

CLASS_NAMES: tuple[str, ...] = ("floor", "wall", "ceiling", "sky", "box", "sphere", "cylinder", "slab")
FLOOR, WALL, CEILING, SKY, BOX, SPHERE, CYLINDER, SLAB = range(len(CLASS_NAMES))
STUFF_CLASSES: frozenset[int] = frozenset({FLOOR, WALL, CEILING, SKY})  # instance id 0
SCENE_KINDS: tuple[str, ...] = ("indoor", "street")


@dataclass(frozen=True)
class Texture:
    """Solid texture: kind in {flat, checker, stripes, noise}, two linear-RGB albedos, period (m), phase, axis."""

    kind: str
    albedo_a: tuple[float, float, float]
    albedo_b: tuple[float, float, float]
    scale: float
    phase: tuple[float, float, float]  # shifts lattice lines off faces at round coordinates (no speckle)
    axis: tuple[float, float, float]   # unit stripe direction
    seed: int                          # value-noise lattice seed


@dataclass(frozen=True, eq=False)
class Plane:
    """Infinite plane {p : normal . p = offset} (stuff: floor, walls, ceiling, ground)."""

    class_id: int
    inst_id: int
    texture: Texture
    normal: np.ndarray  # (3,) unit
    offset: float

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rays (N, 3), (N, 3) -> t (N,) (inf = miss), world normals (N, 3)."""
        return geometry.intersect_plane(origins, directions, self.normal, self.offset)

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> texture coordinates (N, 3): planes never move, so world ones."""
        return points


@dataclass(frozen=True, eq=False)
class Box:
    """Box yawed about the vertical: centre (3,), half extents (3,) in its own frame, yaw (rad)."""

    class_id: int
    inst_id: int
    texture: Texture
    center: np.ndarray
    half_size: np.ndarray
    yaw: float

    @property
    def rotation(self) -> np.ndarray:
        """-> (3, 3) local-to-world rotation."""
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rays (N, 3), (N, 3) -> t (N,) (inf = miss), world normals (N, 3)."""
        t, normals = geometry.intersect_box(self.to_local(origins), directions @ self.rotation, self.half_size)
        return t, normals @ self.rotation.T

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> box-frame points (N, 3)."""
        return (points - self.center) @ self.rotation


@dataclass(frozen=True, eq=False)
class Sphere:
    """Sphere: centre (3,), radius (m)."""

    class_id: int
    inst_id: int
    texture: Texture
    center: np.ndarray
    radius: float

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rays (N, 3), (N, 3) -> t (N,) (inf = miss), world normals (N, 3)."""
        return geometry.intersect_sphere(origins, directions, self.center, self.radius)

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> centred points (N, 3)."""
        return points - self.center


@dataclass(frozen=True, eq=False)
class Cylinder:
    """Vertical capped cylinder standing on `base` (3,): radius and height (m)."""

    class_id: int
    inst_id: int
    texture: Texture
    base: np.ndarray
    radius: float
    height: float

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rays (N, 3), (N, 3) -> t (N,) (inf = miss), world normals (N, 3)."""
        return geometry.intersect_cylinder(self.to_local(origins), directions, self.radius, self.height)

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> base-centred points (N, 3)."""
        return points - self.base


Primitive = Plane | Box | Sphere | Cylinder


@dataclass(frozen=True, eq=False)
class Scene:
    """Primitives plus lighting, the viewpoint the scene was composed for, and the far range (beyond = sky)."""

    kind: str
    primitives: tuple[Primitive, ...]
    viewpoint: np.ndarray      # (4, 4) camera_to_world the objects were placed in front of
    hfov_deg: float
    sun: np.ndarray            # (3,) unit vector towards the directional light
    sun_intensity: float
    ambient: float
    sky_horizon: np.ndarray    # (3,) linear RGB at the horizon, also the fog colour
    sky_zenith: np.ndarray     # (3,) linear RGB straight up
    max_range: float           # metres; farther hits count as sky (the street's far clip)
    fog_distance: float        # metres; aerial-perspective fall-off of surface colour


_BASE_ALBEDO = {FLOOR: (0.45, 0.38, 0.3), WALL: (0.66, 0.62, 0.56), CEILING: (0.82, 0.8, 0.76), BOX: (0.62, 0.34, 0.2),
                SPHERE: (0.25, 0.4, 0.7), CYLINDER: (0.3, 0.58, 0.32), SLAB: (0.55, 0.45, 0.62)}
_OBJECT_CLASSES = (BOX, SPHERE, CYLINDER, SLAB)
_TEXTURE_KINDS = ("flat", "checker", "stripes", "noise")


def sample_scene(rng: np.random.Generator, kind: str) -> Scene:
    """Random generator and kind ('indoor' | 'street') -> a Scene composed in front of its sampled viewpoint."""
    if kind not in SCENE_KINDS:
        raise PixelpredError(f"unknown synth scene kind {kind!r}; expected one of {SCENE_KINDS}")
    hfov_deg = float(rng.uniform(60.0, 75.0))
    compose = _sample_indoor if kind == "indoor" else _sample_street
    primitives, viewpoint, max_range, fog_distance = compose(rng, np.radians(hfov_deg))
    elevation, azimuth = rng.uniform(0.6, 1.4), rng.uniform(0.0, 2.0 * np.pi)
    sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    sky_horizon = np.clip(np.array([0.78, 0.83, 0.92]) + rng.uniform(-0.08, 0.08, 3), 0.0, 1.0)
    sky_zenith = np.clip(np.array([0.22, 0.42, 0.85]) + rng.uniform(-0.1, 0.1, 3), 0.0, 1.0)
    return Scene(kind, tuple(primitives), viewpoint, hfov_deg, sun, float(rng.uniform(0.5, 0.85)),
                 float(rng.uniform(0.2, 0.4)), sky_horizon, sky_zenith, max_range, fog_distance)


def _texture(rng: np.random.Generator, class_id: int, scale: tuple[float, float],
             kinds: tuple[str, ...] = _TEXTURE_KINDS) -> Texture:
    """Random texture near the class's base albedo: colour is a weak class cue, shape the strong one."""
    albedo_a = np.clip(np.array(_BASE_ALBEDO[class_id]) + rng.uniform(-0.2, 0.2, 3), 0.03, 0.95)
    albedo_b = albedo_a * rng.uniform(0.3, 0.7) if rng.random() < 0.5 else rng.uniform(0.03, 0.95, 3)
    period = float(rng.uniform(*scale))
    axis = rng.normal(size=3)
    return Texture(str(rng.choice(kinds)), tuple(map(float, albedo_a)), tuple(map(float, albedo_b)), period,
                   tuple(map(float, rng.uniform(0.1, 0.9, 3) * period)), tuple(map(float, axis / np.linalg.norm(axis))),
                   int(rng.integers(2**31)))


def _sample_indoor(rng: np.random.Generator, hfov: float) -> tuple[list[Primitive], np.ndarray, float, float]:
    """A room [0, Lx] x [0, Ly] x [0, H] with 4-9 objects in view -> (primitives, viewpoint, max range, fog)."""
    room = rng.uniform([4.0, 4.0, 2.5], [10.0, 9.0, 3.4])
    up = np.array([0.0, 0.0, 1.0])
    primitives: list[Primitive] = [
        Plane(FLOOR, 0, _texture(rng, FLOOR, (0.3, 1.2), ("checker", "stripes", "noise")), up, 0.0),
        Plane(CEILING, 0, _texture(rng, CEILING, (0.5, 2.0), ("flat", "noise")), up, float(room[2]))]
    shared_wall = _texture(rng, WALL, (0.2, 1.0))
    for axis in (0, 1):
        for offset in (0.0, float(room[axis])):
            texture = shared_wall if rng.random() < 0.5 else _texture(rng, WALL, (0.2, 1.0))
            primitives.append(Plane(WALL, 0, texture, np.eye(3)[axis], offset))
    position = np.append(rng.uniform(0.6, room[:2] - 0.6), rng.uniform(1.0, 1.7))
    to_centre = room[:2] / 2.0 - position[:2]
    yaw = float(np.arctan2(to_centre[1], to_centre[0]) + rng.uniform(-0.6, 0.6))
    viewpoint = pose_matrix(position, yaw, rng.uniform(0.0, 0.3), rng.uniform(-0.06, 0.06))

    def distance(azimuth: float) -> float:
        heading = np.array([np.cos(azimuth), np.sin(azimuth)])
        heading = np.where(np.abs(heading) < 1e-9, 1e-9, heading)
        to_wall = np.where(heading > 0, room[:2] - position[:2], -position[:2]) / heading
        return float(rng.uniform(1.0, max(1.0, to_wall.min() - 0.2)))

    def inside(xy: np.ndarray, radius: float) -> bool:
        return bool(np.all(xy > radius) and np.all(xy < room[:2] - radius))

    objects = _place_objects(rng, position[:2], yaw, hfov, int(rng.integers(4, 10)), distance, inside,
                             (1.0, 1.0), float(room[2]))
    return primitives + objects, viewpoint, 1e4, 1e9


def _sample_street(rng: np.random.Generator, hfov: float) -> tuple[list[Primitive], np.ndarray, float, float]:
    """Ground to the horizon along +x, building rows, 8-16 objects 3-80 m away -> (primitives, viewpoint, ...)."""
    ground = _texture(rng, FLOOR, (0.5, 3.0), ("checker", "stripes", "noise"))
    primitives: list[Primitive] = [Plane(FLOOR, 0, ground, np.array([0.0, 0.0, 1.0]), 0.0)]
    half_widths = []  # street half-width on the -y and +y sides; inf where the side is open
    for side in (-1.0, 1.0):
        offset = float(rng.uniform(7.0, 14.0))
        if rng.random() < 0.2:
            half_widths.append(np.inf)
            continue
        half_widths.append(offset)
        start = -30.0
        while start < 220.0:
            length, height, gap = rng.uniform(8.0, 35.0), rng.uniform(5.0, 30.0), rng.random() < 0.2
            if not gap:
                half = np.array([length / 2.0, 5.0, height / 2.0])
                center = np.array([start + half[0], side * (offset + half[1]), half[2]])
                primitives.append(Box(WALL, 0, _texture(rng, WALL, (1.0, 4.0)), center, half, 0.0))
            start += length
    position = np.array([0.0, rng.uniform(-3.0, 3.0), rng.uniform(1.2, 2.5)])
    yaw = rng.uniform(-0.4, 0.4) if rng.random() < 0.8 else rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.1)
    viewpoint = pose_matrix(position, float(yaw), rng.uniform(-0.05, 0.15), rng.uniform(-0.05, 0.05))

    def distance(azimuth: float) -> float:
        return float(np.exp(rng.uniform(np.log(3.0), np.log(80.0))))  # log-uniform: near and far alike

    def inside(xy: np.ndarray, radius: float) -> bool:
        return bool(-half_widths[0] + radius < xy[1] < half_widths[1] - radius)

    objects = _place_objects(rng, position[:2], float(yaw), hfov, int(rng.integers(8, 17)), distance, inside,
                             (1.2, 2.5), np.inf)
    return primitives + objects, viewpoint, 200.0, float(rng.uniform(80.0, 250.0))


def _place_objects(rng: np.random.Generator, camera_xy: np.ndarray, yaw: float, hfov: float, count: int,
                   distance: Callable[[float], float], inside: Callable[[np.ndarray, float], bool],
                   size: tuple[float, float], ceiling: float) -> list[Primitive]:
    """Rejection-sample up to `count` non-overlapping objects in the horizontal field of view; instance ids 1..N."""
    placed: list[tuple[Primitive, np.ndarray, float]] = []
    for _ in range(4 * count):
        if len(placed) == count:
            break
        azimuth = yaw + rng.uniform(-0.5, 0.5) * hfov
        xy = camera_xy + distance(azimuth) * np.array([np.cos(azimuth), np.sin(azimuth)])
        primitive, radius = _sample_object(rng, int(rng.choice(_OBJECT_CLASSES)), len(placed) + 1, xy,
                                           float(rng.uniform(*size)), ceiling)
        clear = all(np.linalg.norm(xy - other_xy) > radius + other_radius for _, other_xy, other_radius in placed)
        if clear and inside(xy, radius) and np.linalg.norm(xy - camera_xy) > radius + 0.5:
            placed.append((primitive, xy, radius))
    return [primitive for primitive, _, _ in placed]


def _sample_object(rng: np.random.Generator, class_id: int, inst_id: int, xy: np.ndarray, size: float,
                   ceiling: float) -> tuple[Primitive, float]:
    """Object of `class_id` at ground point xy, dimensions scaled by `size` -> (primitive, footprint radius)."""
    texture = _texture(rng, class_id, (0.08 * size, 0.4 * size))
    ground = np.array([xy[0], xy[1], 0.0])
    yaw = float(rng.uniform(0.0, np.pi)) if rng.random() < 0.6 else 0.0
    if class_id == SPHERE:
        radius = float(rng.uniform(0.18, 0.6) * size)
        lift = rng.uniform(0.2, max(0.2, min(ceiling - 2.0 * radius - 0.2, 2.0 * size))) if rng.random() < 0.3 else 0.0
        return Sphere(class_id, inst_id, texture, ground + [0.0, 0.0, radius + lift], radius), radius
    if class_id == CYLINDER:
        radius = float(rng.uniform(0.08, 0.4) * size)
        height = float(min(rng.uniform(0.3, 1.7) * size, ceiling - 0.2))  # never touches the ceiling: no coplanar caps
        return Cylinder(class_id, inst_id, texture, ground, radius, height), radius
    if class_id == BOX:
        half = rng.uniform([0.15, 0.15, 0.15], [0.6, 0.6, 0.7]) * size
        half[2] = min(half[2], (ceiling - 0.2) / 2.0)
        return Box(class_id, inst_id, texture, ground + [0.0, 0.0, half[2]], half, yaw), float(np.linalg.norm(half[:2]))
    if rng.random() < 0.5:  # slab as a table top: thin in z, raised
        half = rng.uniform([0.4, 0.3, 0.02], [0.9, 0.6, 0.05]) * size
        lift = rng.uniform(0.45, 1.0) * size
    else:  # slab as a standing panel: thin in y
        half = rng.uniform([0.4, 0.02, 0.3], [1.0, 0.05, 0.9]) * size
        lift = half[2] + rng.uniform(0.0, 0.4) * size
    lift = min(lift, ceiling - 0.1 - half[2])
    return Box(class_id, inst_id, texture, ground + [0.0, 0.0, lift], half, yaw), float(np.linalg.norm(half[:2]))
