"""Panorama normal transform (thesis App. B.1): global normals -> normals relative to each column's viewing direction.

Frames. Global: z up, azimuths measured clockwise about +z seen from above (the convention of synth.panorama):
the horizontal direction at azimuth a is (cos a, -sin a, 0). Column u of a W-wide equirectangular panorama looks
along azimuth phi(u); its LOCAL frame is the level perspective camera looking along phi(u), in the project's
camera convention (x right, y down, z forward), so panorama and perspective normals mean the same thing:
    forward f = (cos phi, -sin phi, 0), right r = (-sin phi, -cos phi, 0), down (0, 0, -1),
    n_local = (n . r, n . down, n . f).
Writing a global normal as n = (h cos psi, -h sin psi, n_z) (psi: its azimuth, h: its horizontal length),
    n_local = (h sin(psi - phi), -n_z, h cos(psi - phi)),
i.e. Eq. B.1: a rotation in the horizontal plane by the column's angle, the vertical part kept (here as -y).
The thesis's (x', y', z) is this frame relabelled: x' = x (right), y' = z (forward), z = -y (up).

Recovering phi(u). The yaw is not in the data; a canonical point fixes it. At a canonical pixel (v_c, u_c) the
surface normal faces the camera exactly (thesis: theta = 0; here n_local = (0, -n_z, -h)), so the column looks
opposite to the normal, phi(u_c) = psi_c + pi, and columns are 2*pi/W apart in azimuth:
    phi(u) = psi_c + pi + 2*pi*(u - u_c)/W        (u_c may be fractional; pixel centres at integers).
The nearest point of a vertical plane (smallest horizontal distance) is the foot of the perpendicular from the
camera, so its normal faces the camera: find_canonical_point returns that point of a large plane, sub-pixel.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from components.errors import PixelpredError

_MAX_CLICK_TILT_DEG = 30.0  # a clicked point must lie on a roughly vertical surface for psi_c to mean anything


@dataclass(frozen=True)
class CanonicalPoint:
    """Pixel whose surface normal faces the camera: row, column (fractional for sub-pixel auto points), source."""

    row: int
    column: float
    source: str  # "auto" | "manual"


def column_azimuths(normal_global: np.ndarray, canonical: CanonicalPoint) -> np.ndarray:
    """Global normals (H, W, 3) and a canonical point -> viewing azimuth phi(u) (W,) of every column."""
    height, width = normal_global.shape[:2]
    if not 0 <= canonical.row < height:
        raise PixelpredError(f"canonical point row {canonical.row} is outside a panorama {height} rows high")
    n = _canonical_normal(normal_global, canonical.row, int(np.round(canonical.column)) % width)
    if np.hypot(n[0], n[1]) < np.cos(np.radians(_MAX_CLICK_TILT_DEG)):
        raise PixelpredError(f"canonical point {canonical} is not on a vertical surface (normal {n.round(3).tolist()})")
    psi = np.arctan2(-n[1], n[0])  # clockwise azimuth of the canonical normal
    return psi + np.pi + 2.0 * np.pi * (np.arange(width) - canonical.column) / width


def _canonical_normal(normal_global: np.ndarray, row: int, column: int) -> np.ndarray:
    """Global normals (H, W, 3), a pixel -> unit mean normal (3,) of the 5 x 5 window around it (columns wrap) over
    the pixels within 10 degrees of its own: one noisy pixel does not set every column's azimuth."""
    height, width = normal_global.shape[:2]
    rows = np.clip(np.arange(row - 2, row + 3), 0, height - 1)
    window = normal_global[rows][:, np.arange(column - 2, column + 3) % width].reshape(-1, 3).astype(np.float64)
    centre = normal_global[row, column].astype(np.float64)
    if not centre.any():
        raise PixelpredError(f"canonical point (row {row}, column {column}) has no normal (invalid pixel)")
    mean = window[window @ centre >= np.cos(np.radians(10.0)) * np.linalg.norm(centre)].sum(axis=0)
    return mean / np.linalg.norm(mean)


def global_to_local(normal_global: np.ndarray, canonical: CanonicalPoint) -> np.ndarray:
    """Global normals (H, W, 3) -> float32 (H, W, 3) in each column's camera frame (see module docstring); 0 stays 0."""
    phi = column_azimuths(normal_global, canonical)
    n = normal_global.astype(np.float64)
    cos_phi, sin_phi = np.cos(phi), np.sin(phi)  # (W,), broadcast over rows
    right = -n[..., 0] * sin_phi - n[..., 1] * cos_phi
    forward = n[..., 0] * cos_phi - n[..., 1] * sin_phi
    return np.stack([right, -n[..., 2], forward], axis=-1).astype(np.float32)


def canonical_candidates(depth: np.ndarray, normal_global: np.ndarray, wall_mask: np.ndarray | None = None,
                         min_fraction: float = 0.02, tolerance_deg: float = 5.0) -> list[CanonicalPoint]:
    """Range depth (H, W), global normals (H, W, 3), optional (H, W) bool search mask (e.g. seg == wall) ->
    the visible nearest point of every large vertical plane, nearest plane first.

    Segments: 4-connected pixels (wrapping round the seam) whose normals are within `tolerance_deg` of
    horizontal and of each other and whose ranges differ by < 10% (no jump onto a parallel surface behind).
    A segment counts when it covers >= min_fraction of the panorama, 90% of its normals are within tolerance of
    their mean (flat, not a chain along a curved surface) and its horizontal points lie on a line.
    """
    height, width = depth.shape
    n = normal_global.astype(np.float64)
    candidate = (depth > 0) & (np.abs(n[..., 2]) < np.sin(np.radians(tolerance_deg)))
    if wall_mask is not None:
        candidate &= wall_mask
    labels = _segments(candidate, depth, n, np.cos(np.radians(tolerance_deg)))
    sizes = np.bincount(labels[candidate], minlength=labels.max() + 1)
    # Horizontal points in a panorama-relative frame: the angle grows with the column, the yaw is unknown.
    angle = 2.0 * np.pi * (np.arange(width) + 0.5) / width
    horizontal_range = depth * np.cos(np.pi / 2.0 - np.pi * (np.arange(height) + 0.5) / height)[:, None]
    points = np.stack([horizontal_range * np.cos(angle), horizontal_range * np.sin(angle)], axis=-1)
    found: list[tuple[float, CanonicalPoint]] = []
    for segment in np.flatnonzero(sizes >= min_fraction * height * width):
        in_segment = candidate & (labels == segment)
        mean_normal = n[in_segment].mean(axis=0)
        mean_normal /= np.linalg.norm(mean_normal)
        if np.quantile(n[in_segment] @ mean_normal, 0.1) < np.cos(np.radians(tolerance_deg)):  # 90%: noise-tolerant
            continue
        foot = _foot_of_line(points[in_segment])
        if foot is None:
            continue
        distance, foot_angle = foot
        column = float((foot_angle * width / (2.0 * np.pi) - 0.5) % width)
        rows = np.flatnonzero(in_segment[:, int(np.round(column)) % width])
        if len(rows) == 0:  # the foot is hidden behind something: nobody could click it
            continue
        row = int(rows[np.argmin(np.abs(rows - (height - 1) / 2.0))])  # nearest the horizon: the nearest 3D point
        found.append((distance, CanonicalPoint(row, column, "auto")))
    return [point for _, point in sorted(found, key=lambda item: item[0])]


def find_canonical_point(depth: np.ndarray, normal_global: np.ndarray, wall_mask: np.ndarray | None = None,
                         min_fraction: float = 0.02, tolerance_deg: float = 5.0) -> CanonicalPoint:
    """Range depth (H, W), global normals (H, W, 3) -> the visible nearest point of the nearest large vertical plane."""
    candidates = canonical_candidates(depth, normal_global, wall_mask, min_fraction, tolerance_deg)
    if not candidates:
        raise PixelpredError("no large vertical plane with a visible nearest point; give this panorama a manual "
                             "canonical point in the override file")
    return candidates[0]


def _segments(candidate: np.ndarray, depth: np.ndarray, normal: np.ndarray, min_cosine: float) -> np.ndarray:
    """Candidate mask (H, W), range, normals -> (H, W) segment labels of 4-connected similar pixels (seam wraps)."""
    height, width = candidate.shape
    index = np.arange(height * width).reshape(height, width)
    is_candidate, ranges, normals = candidate.ravel(), depth.ravel(), normal.reshape(-1, 3)
    firsts, seconds = [], []
    # Right neighbours (column W - 1 touches column 0 across the seam), then lower neighbours.
    for first, second in ((index, np.roll(index, -1, axis=1)), (index[:-1], index[1:])):
        first, second = first.ravel(), second.ravel()
        similar = (is_candidate[first] & is_candidate[second]
                   & (np.sum(normals[first] * normals[second], axis=1) > min_cosine)
                   & (np.abs(ranges[first] - ranges[second]) < 0.1 * np.minimum(ranges[first], ranges[second])))
        firsts.append(first[similar])
        seconds.append(second[similar])
    edges = np.concatenate(firsts), np.concatenate(seconds)
    graph = coo_matrix((np.ones(len(edges[0])), edges), shape=(height * width, height * width))
    return connected_components(graph, directed=False)[1].reshape(height, width)


def _foot_of_line(points: np.ndarray, max_rms: float = 0.02) -> tuple[float, float] | None:
    """Horizontal points (N, 2) of one plane -> (distance of its line from the origin, angle of the foot of the
    perpendicular), or None when the points are not on a line (rms off-line > max_rms of the distance)."""
    centre = points.mean(axis=0)
    _, eigenvectors = np.linalg.eigh(np.cov((points - centre).T))
    normal = eigenvectors[:, 0]  # smallest spread: across the line
    distance = float(centre @ normal)
    if distance < 0:
        normal, distance = -normal, -distance
    if distance <= 0 or np.sqrt(np.mean((points @ normal - distance) ** 2)) > max_rms * distance:
        return None
    return distance, float(np.arctan2(normal[1], normal[0]))


def read_overrides(path: Path) -> dict[str, CanonicalPoint]:
    """JSON file {sample key: {"column": u, "row": v}} (clicked canonical points) -> {key: manual CanonicalPoint}."""
    try:
        entries = json.loads(Path(path).read_text())
        return {str(key): CanonicalPoint(int(entry["row"]), float(entry["column"]), "manual")
                for key, entry in entries.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exn:
        raise PixelpredError(f"canonical point overrides {path}: expected {{key: {{\"column\": u, \"row\": v}}}} "
                             f"({type(exn).__name__}: {exn})") from exn


def choose_canonical_point(key: str, depth: np.ndarray, normal_global: np.ndarray,
                           overrides: dict[str, CanonicalPoint], wall_mask: np.ndarray | None = None) -> CanonicalPoint:
    """Sample key and its range depth, global normals -> its manual override if it has one, else the automatic point."""
    if key in overrides:
        return overrides[key]
    return find_canonical_point(depth, normal_global, wall_mask)


def save_comparison_png(path: Path, rgb: np.ndarray, normal_global: np.ndarray, normal_local: np.ndarray) -> None:
    """rgb (H, W, 3) u8, global and local normals (H, W, 3) -> PNG at path: rgb | global | local, side by side."""
    from components.tasks.colorize import colorize_normals, panel  # here: importing components.tasks loads torch

    image = panel([[rgb, colorize_normals(normal_global), colorize_normals(normal_local)]])
    Image.fromarray(image).save(path, format="PNG")
