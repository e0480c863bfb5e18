"""Analytic ray-casting renderer for procedural scenes: rgb, z-depth, normals, semantics, instances, boundaries.

Pipeline: sample_scene (synth.scene) -> camera (geometry) -> cast_rays -> Hits -> shade / labels -> boundaries.
Label conventions: `seg` holds CLASS_NAMES ids, sky included (class 3, depth 0, normal 0); the renderer never
emits 255 (reserved for ignore by the sample schema). `inst` is 1..N for objects, 0 for stuff.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from components.data.geometry import PerspectiveCamera
from components.data.synth.scene import CLASS_NAMES, SKY, Scene, Texture, sample_scene

__all__ = ["CLASS_NAMES", "Hits", "cast_rays", "jitter_annotators", "label_boundaries", "labels_of", "render",
           "render_view", "sample_view", "shade", "texture_albedo"]

# Independent random streams per seed: changing how one part draws numbers leaves the others unchanged.
_SCENE_STREAM, _NOISE_STREAM, _ANNOTATOR_STREAM = 0, 1, 2
_GAMMA = 2.2


@dataclass(frozen=True)
class Hits:
    """Nearest hit per ray: t (N,) (inf = none), primitive index (N,) (-1 = none), world points and normals (N, 3)."""

    t: np.ndarray
    index: np.ndarray
    points: np.ndarray
    normals: np.ndarray  # unit, facing the ray origin; zero where there is no hit

    @property
    def valid(self) -> np.ndarray:
        """-> (N,) bool, True where a ray hit a surface."""
        return self.index >= 0


def cast_rays(scene: Scene, origins: np.ndarray, directions: np.ndarray) -> Hits:
    """World rays (N, 3) origins, (N, 3) unit directions -> nearest Hits over the scene (beyond max_range: none)."""
    t = np.full(len(origins), np.inf)
    index = np.full(len(origins), -1, dtype=np.int64)
    normals = np.zeros_like(origins)
    for i, primitive in enumerate(scene.primitives):  # vectorised over rays, looped over primitives
        t_i, normals_i = primitive.intersect(origins, directions)
        closer = t_i < t
        t[closer], index[closer], normals[closer] = t_i[closer], i, normals_i[closer]
    missed = t > scene.max_range
    t[missed], index[missed], normals[missed] = np.inf, -1, 0.0
    points = origins + np.where(missed, 0.0, t)[:, None] * directions
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    # Planes are two-sided and every normal must face the viewer.
    normals *= np.where(np.einsum("ij,ij->i", normals, directions) > 0, -1.0, 1.0)[:, None]
    return Hits(t, index, points, normals)


def texture_albedo(texture: Texture, local_points: np.ndarray) -> np.ndarray:
    """Texture and primitive-frame points (N, 3) -> linear-RGB albedo (N, 3)."""
    p = (local_points + np.asarray(texture.phase)) / texture.scale
    if texture.kind == "checker":
        mix = np.floor(p).sum(axis=1) % 2
    elif texture.kind == "stripes":
        mix = np.floor(p @ np.asarray(texture.axis)) % 2
    elif texture.kind == "noise":
        mix = 0.65 * _value_noise(p, texture.seed) + 0.35 * _value_noise(2.0 * p, texture.seed + 1)
    else:
        mix = np.zeros(len(p))
    albedo_a, albedo_b = np.asarray(texture.albedo_a), np.asarray(texture.albedo_b)
    return albedo_a + (albedo_b - albedo_a) * mix[:, None]


def _value_noise(p: np.ndarray, seed: int) -> np.ndarray:
    """Points (N, 3) in lattice units -> smooth value noise (N,) in [0, 1): trilinear blend of hashed corners."""
    cell = np.floor(p)
    w = p - cell
    w = w * w * (3.0 - 2.0 * w)  # smoothstep: no creases along lattice lines
    cell = cell.astype(np.int64)
    total = np.zeros(len(p))
    for corner in product((0, 1), repeat=3):
        weight = np.prod(np.where(np.array(corner, bool), w, 1.0 - w), axis=1)
        total += weight * _lattice_hash(cell + np.array(corner), seed)
    return total


def _lattice_hash(cells: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice points (N, 3) -> uniform values (N,) in [0, 1) (64-bit multiply-xorshift mix)."""
    c = cells.astype(np.uint64)  # negative coordinates wrap, which a hash does not mind
    h = (c[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ (c[:, 1] * np.uint64(0xC2B2AE3D27D4EB4F))
    h ^= c[:, 2] * np.uint64(0x165667B19E3779F9) ^ np.uint64(seed)
    for multiplier in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        h ^= h >> np.uint64(33)
        h *= np.uint64(multiplier)
    h ^= h >> np.uint64(33)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def shade(scene: Scene, hits: Hits, directions: np.ndarray) -> np.ndarray:
    """Scene, Hits and ray directions (N, 3) -> linear RGB (N, 3): textured Lambertian + ambient, fog, sky gradient."""
    albedo = np.zeros_like(hits.points)
    for i in np.unique(hits.index[hits.valid]):
        on_primitive = hits.index == i
        primitive = scene.primitives[i]
        albedo[on_primitive] = texture_albedo(primitive.texture, primitive.to_local(hits.points[on_primitive]))
    lambert = scene.ambient + scene.sun_intensity * np.maximum(hits.normals @ scene.sun, 0.0)
    surface = albedo * lambert[:, None]
    fog = np.exp(-np.where(hits.valid, hits.t, 0.0) / scene.fog_distance)[:, None]  # aerial perspective
    surface = fog * surface + (1.0 - fog) * scene.sky_horizon
    elevation = np.sqrt(np.clip(directions[:, 2], 0.0, 1.0))[:, None]
    sky = scene.sky_horizon + (scene.sky_zenith - scene.sky_horizon) * elevation
    return np.where(hits.valid[:, None], surface, sky)


def labels_of(scene: Scene, hits: Hits) -> tuple[np.ndarray, np.ndarray]:
    """Scene and Hits -> semantic class (N,) uint8 and instance id (N,) uint16; no hit is sky, instance 0."""
    # Index -1 (no hit) picks the appended last entry.
    class_of = np.array([p.class_id for p in scene.primitives] + [SKY], dtype=np.uint8)
    inst_of = np.array([p.inst_id for p in scene.primitives] + [0], dtype=np.uint16)
    return class_of[hits.index], inst_of[hits.index]


def render(scene: Scene, camera: PerspectiveCamera, height: int, width: int,
           rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Scene, camera, size, noise generator -> rgb (H,W,3) u8, depth (H,W) f32, normal (H,W,3) f32, seg u8, inst u16."""
    origins, directions = (a.reshape(-1, 3) for a in camera.rays(height, width))
    hits = cast_rays(scene, origins, directions)
    colour = shade(scene, hits, directions) ** (1.0 / _GAMMA)
    colour += rng.normal(0.0, rng.uniform(0.0, 0.012), colour.shape)  # mild sensor noise, sigma <= 3/255
    rgb = np.clip(np.round(colour * 255.0), 0, 255).astype(np.uint8)
    seg, inst = labels_of(scene, hits)
    depth = np.where(hits.valid, camera.depth_of(hits.points), 0.0).astype(np.float32)
    normal = camera.normals_of(hits.normals).astype(np.float32)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), np.float32(1e-12))  # unit again in float32
    return {"rgb": rgb.reshape(height, width, 3), "depth": depth.reshape(height, width),
            "normal": normal.reshape(height, width, 3), "seg": seg.reshape(height, width),
            "inst": inst.reshape(height, width)}


def label_boundaries(seg: np.ndarray, inst: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """seg, inst, depth (H, W) -> boundary map (H, W) u8: each (seg, inst) change between 4-neighbours marks
    exactly one pixel of the pair, the nearer (occluding) one, so contours are 1 px thin and hug the occluder."""
    label = seg.astype(np.int64) * 65536 + inst
    nearness = np.where(depth > 0, depth, np.inf)  # sky is farthest
    edge = np.zeros(seg.shape, dtype=bool)
    for first, second in (((slice(None, -1), slice(None)), (slice(1, None), slice(None))),
                          ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
        differ = label[first] != label[second]
        first_nearer = nearness[first] <= nearness[second]
        edge[first] |= differ & first_nearer
        edge[second] |= differ & ~first_nearer
    return edge.astype(np.uint8)


def jitter_annotators(edge: np.ndarray, num_annotators: int, rng: np.random.Generator) -> np.ndarray:
    """Exact boundary map (H, W) -> (K, H, W) u8: map 0 exact; each other "human" cuts the map into square pieces
    (own size and grid offset) and drops some pieces or shifts them 1 px, at its own rates; always differs."""
    height, width = edge.shape
    exact = edge.astype(bool)
    rows, cols = np.mgrid[0:height, 0:width]
    maps = [exact]
    for _ in range(1, num_annotators):
        piece = int(rng.integers(5, 13))
        offset = rng.integers(0, piece, 2)
        tiles_across = (width + piece) // piece + 1
        tile = ((rows + offset[0]) // piece) * tiles_across + (cols + offset[1]) // piece
        p_drop, p_shift = rng.uniform(0.03, 0.12), rng.uniform(0.15, 0.4)
        # actions: 0 keep, 1 drop, 2..5 shift up/down/left/right by one pixel
        action = rng.choice(6, size=tile.max() + 1, p=[1 - p_drop - p_shift, p_drop] + [p_shift / 4] * 4)[tile]
        jittered = exact & (action == 0)
        for code, (dy, dx) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1)), start=2):
            jittered |= _shift(exact & (action == code), dy, dx)
        if exact.any() and np.array_equal(jittered, exact):  # tiny images: force a visible disagreement
            jittered &= tile != tile[exact][0]
        maps.append(jittered)
    return np.stack(maps).astype(np.uint8)


def _shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Boolean map (H, W) -> the map moved by (dy, dx) pixels, zero-filled (no wrap-around)."""
    height, width = mask.shape
    moved = np.zeros_like(mask)
    moved[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        mask[max(-dy, 0):height - max(dy, 0), max(-dx, 0):width - max(dx, 0)]
    return moved


def sample_view(seed: int, height: int, width: int, scene: str) -> tuple[Scene, PerspectiveCamera]:
    """Seed, image size, scene kind -> the Scene and the perspective camera render_view uses for that seed."""
    scene_ = sample_scene(np.random.default_rng([seed, _SCENE_STREAM]), scene)
    return scene_, PerspectiveCamera.from_hfov(height, width, scene_.hfov_deg, scene_.viewpoint)


def render_view(seed: int, height: int, width: int, scene: str = "indoor", num_annotators: int = 1) -> dict:
    """Seed, size, kind ('indoor' | 'street'), K -> one sample: rgb, depth, normal, seg, inst, edge (K,H,W), meta."""
    scene_, camera = sample_view(seed, height, width, scene)
    view: dict = render(scene_, camera, height, width, np.random.default_rng([seed, _NOISE_STREAM]))
    exact = label_boundaries(view["seg"], view["inst"], view["depth"])
    view["edge"] = jitter_annotators(exact, num_annotators, np.random.default_rng([seed, _ANNOTATOR_STREAM]))
    view["meta"] = {"scene": scene, "seed": int(seed), "height": int(height), "width": int(width),
                    "intrinsics": camera.intrinsics, "class_names": list(CLASS_NAMES),
                    "camera_to_world": camera.camera_to_world.tolist(), "hfov_deg": scene_.hfov_deg,
                    "depth": "z", "normal_frame": "camera"}
    return view
