"""Surface normals from a z-depth map by local least-squares plane fits: the NYUv2 normal targets of the thesis.

What the thesis states (§2.3.1, NYUv2): "we compute the normal as target from depth using the method in [301]
by fitting least-squares planes to neighboring sets of points in the point cloud". It gives no neighbourhood,
depth gate or minimum support. [301] is Silberman et al., ECCV 2012; the `compute_local_planes` of its released
toolbox fits the centre pixel and its neighbours at pixel offsets {0, ±1, ±3, ±6, ±9} in u and v (81 points,
19 px across). It keeps a neighbour only if |z - z_centre| < 0.05 z_centre and fits once 3 points remain, taking
the smallest eigenvector of AᵀA over homogeneous rows [x y z 1].

What is chosen here:
- neighbourhood: window x window samples `dilation` px apart; the default 9 x 9 at 2 px keeps [301]'s 81 points
  and nearly its span (17 px) on a regular grid.
- gate: [301]'s relative depth test against the centre, `max_depth_ratio` = 0.05 (np.inf turns it off), so a
  fit never straddles an occlusion edge.
- fit: the orthogonal least-squares plane, i.e. the smallest eigenvector of the covariance of the kept points.
  [301]'s homogeneous fit also penalises the plane offset, which on noisy depth pulls normals slightly towards
  the viewing ray.
- support: a pixel gets a normal only if its own depth is valid and at least `min_valid` of its window's samples
  are valid and pass the gate; samples outside the image count as invalid. [301] needs just 3 points, which can
  be nearly collinear, so its normals on thin structures and steeply receding surfaces (where the gate cuts most
  samples) are unreliable; these are left at 0 here.
- orientation: towards the camera, n . p < 0 at the pixel's point p, as the synth renderer and
  PerspectiveCamera.normals_of report normals.

Vectorised over pixels: one whole-image pass per window sample (81 by default). Box sums would cost the same
for any window but cannot apply the gate, which depends on each centre's depth.
"""
from __future__ import annotations

import numpy as np

from components.data.geometry import backproject

_UPPER = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # the distinct entries of a symmetric 3x3 matrix


def normals_from_depth(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float, window: int = 9,
                       min_valid: float = 0.5, max_depth_ratio: float = 0.05, dilation: int = 2) -> np.ndarray:
    """z-depth (H, W) in metres (0 = invalid) and intrinsics -> camera-frame unit normals (H, W, 3) float32,
    facing the camera, exactly 0 where the pixel or its neighbourhood lacks valid depth."""
    if window < 3 or window % 2 == 0 or dilation < 1:
        raise ValueError(f"window must be odd and >= 3 and dilation >= 1, got window={window}, dilation={dilation}")
    height, width = depth.shape
    valid = depth > 0
    points = backproject(np.where(valid, depth, 0.0), fx, fy, cx, cy)
    # Channels first in float32: neighbour offsets are centimetres, well within float32 precision.
    centre = np.ascontiguousarray(points.transpose(2, 0, 1), dtype=np.float32)
    reach = window // 2 * dilation
    padded = np.pad(centre, ((0, 0), (reach, reach), (reach, reach)))  # z = 0 outside: invalid samples
    tolerance = np.zeros((height, width), np.float32)  # stays 0 at invalid centres: nothing passes
    np.multiply(np.float32(max_depth_ratio), centre[2], out=tolerance, where=valid)  # where=: no inf * 0

    # Moments of the kept offsets from the centre point: count, sum and the 6 distinct products.
    count = np.zeros((height, width), np.float32)
    first = np.zeros((3, height, width), np.float32)
    second = np.zeros((6, height, width), np.float32)
    offset, product = np.empty_like(centre), np.empty_like(count)
    for dy in range(0, 2 * reach + 1, dilation):
        for dx in range(0, 2 * reach + 1, dilation):
            neighbour = padded[:, dy:dy + height, dx:dx + width]
            np.subtract(neighbour, centre, out=offset)
            kept = (neighbour[2] > 0) & (np.abs(offset[2]) < tolerance)
            offset *= kept
            count += kept
            first += offset
            for k, (i, j) in enumerate(_UPPER):
                np.multiply(offset[i], offset[j], out=product)
                second[k] += product

    fit = valid & (count >= min_valid * window**2)
    n = count[fit].astype(np.float64)[:, None]
    mean = first[:, fit].T / n  # (N, 3)
    moments = second[:, fit].T / n  # (N, 6)
    covariance = np.empty((len(n), 3, 3))
    for k, (i, j) in enumerate(_UPPER):
        covariance[:, i, j] = covariance[:, j, i] = moments[:, k] - mean[:, i] * mean[:, j]
    normal = np.linalg.eigh(covariance)[1][:, :, 0]  # eigenvalues ascend: column 0 is the plane normal
    normal *= np.where(np.einsum("ij,ij->i", normal, points[fit]) > 0, -1.0, 1.0)[:, None]

    normals = np.zeros((height, width, 3), np.float32)
    normals[fit] = normal
    return normals
