"""Predicted per-pixel filters -> the pictures of thesis §6.5 / Fig. 6.6: filter flow maps, PCA grid, cluster maps.

Filters arrive as numpy arrays in the layout of components.models.filter_flow: one image's filters are k² x H x W
with channel i = (dy + r) * k + (dx + r) (row-major offsets); a bag of filters is P x k², one filter per row.
Flows are (dx, dy) in pixels with y pointing down the image, the convention of `expected_flow`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib import colormaps
from threadpoolctl import threadpool_limits

from components.models.filter_flow import expected_flow
from components.tasks.colorize import flow_to_color, panel

MIN_TILE_PX = 34  # PCA tiles are upscaled by an integer factor to at least this many pixels a side
TSNE_MIN_CENTROIDS = 10  # fewer centroids than this are embedded with PCA: t-SNE needs perplexity < n
TSNE_EXACT_MAX = 1000  # exact t-SNE up to this many centroids: O(n²) but deterministic and cheap for K=400


def filter_flow_map(filters: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """k² x H x W filters -> uint8 H x W x 3: the expected flow (mean offset under |w|) in flow colours."""
    flow = expected_flow(torch.from_numpy(np.ascontiguousarray(filters, dtype=np.float32))[None])  # 1 x 2 x H x W
    return flow_to_color(flow[0].permute(1, 2, 0).numpy(), max_magnitude)


def filter_pca(filters: np.ndarray, components: int = 10) -> tuple[np.ndarray, float, np.ndarray]:
    """P x k² filters -> (basis components x k², energy captured by that subspace, per-component energy fractions).

    "Filter energy" is the uncentred second moment sum ||w||²: no mean is removed, so for softmax filters the
    first component is close to the (normalised) mean filter, and the fractions are the squared singular values
    of the raw P x k² matrix over their total. They come from the k² x k² Gram matrix, so P may be large.
    Each basis vector's sign is fixed so its largest-|value| entry is positive (deterministic pictures).
    """
    x = np.asarray(filters, dtype=np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(x.T @ x)  # ascending; eigenvalues = squared singular values
    order = np.argsort(eigenvalues)[::-1][:components]
    basis = eigenvectors[:, order].T  # components x k²
    basis *= np.sign(basis[np.arange(len(basis)), np.abs(basis).argmax(1)])[:, None]
    total = max(float(np.clip(eigenvalues, 0, None).sum()), np.finfo(np.float64).tiny)
    fractions = np.clip(eigenvalues[order], 0, None) / total
    return basis, float(fractions.sum()), fractions


def pca_grid(basis: np.ndarray, k: int, columns: int = 5) -> np.ndarray:
    """components x k² basis -> uint8 image of k x k tiles (red +, blue -, white 0, each tile's own |max|)."""
    scale = math.ceil(MIN_TILE_PX / k)
    tiles = []
    for component in np.asarray(basis, dtype=np.float64).reshape(-1, k, k):
        peak = float(np.abs(component).max())
        unit = 0.5 + 0.5 * component / peak if peak > 0 else np.full_like(component, 0.5)  # 0 -> colormap centre
        rgb = np.round(colormaps["RdBu_r"](unit)[..., :3] * 255).astype(np.uint8)
        tiles.append(np.kron(rgb, np.ones((scale, scale, 1), np.uint8)))  # nearest-neighbour upscale
    return panel([tiles[i:i + columns] for i in range(0, len(tiles), columns)])


def filter_clusters(filters: np.ndarray, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """P x k² filters -> (labels P, centroids clusters x k²) by seeded k-means (k-means++ seeding, one run)."""
    # scikit-learn is imported where it is used: every training worker imports the tasks, only evaluation needs it
    # (~1 s of start-up per process on a 2-core machine).
    from sklearn.cluster import KMeans
    kmeans = KMeans(n_clusters=clusters, n_init=1, random_state=seed)
    # k-means++ seeding makes many small BLAS calls; multi-threaded BLAS made it ~20x slower on a busy 2-core
    # machine (43 s vs 2 s for K=400, 10k x 289). Lloyd's iterations already run BLAS single-threaded under OpenMP.
    with threadpool_limits(1, user_api="blas"):
        labels = kmeans.fit_predict(np.asarray(filters, dtype=np.float32))
    return labels.astype(np.int64), kmeans.cluster_centers_.astype(np.float64)


def _embed_2d(centroids: np.ndarray, seed: int) -> np.ndarray:
    """clusters x k² -> clusters x 2: t-SNE (perplexity < clusters) from TSNE_MIN_CENTROIDS on, PCA below."""
    n = len(centroids)
    if n >= TSNE_MIN_CENTROIDS:
        from sklearn.manifold import TSNE      # evaluation only, as in filter_clusters
        tsne = TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed,
                    method="exact" if n <= TSNE_EXACT_MAX else "barnes_hut")
        with threadpool_limits(1, user_api="blas"):
            return tsne.fit_transform(centroids)
    centred = centroids - centroids.mean(0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    embedding = np.zeros((n, 2))
    embedding[:, :min(2, len(s))] = (u * s)[:, :2]
    return embedding


def centroid_colors(centroids: np.ndarray, seed: int) -> np.ndarray:
    """clusters x k² centroids -> uint8 clusters x 3 from their 2-D embedding read on the flow colour chart.

    The embedding is centred on its mean; a centroid's colour is flow_to_color of its position, i.e. hue = angle
    around the centre and saturation = radius / largest radius, so the chart is the flow-colour wheel.
    """
    embedding = _embed_2d(np.asarray(centroids, dtype=np.float64), seed)
    return flow_to_color((embedding - embedding.mean(0))[None])[0]


def cluster_map(filters: np.ndarray, centroids: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """k² x H x W filters -> uint8 H x W x 3: each pixel takes the colour of its nearest centroid."""
    from sklearn.metrics import pairwise_distances_argmin      # evaluation only, as in filter_clusters
    k2, H, W = filters.shape
    pixels = np.asarray(filters, dtype=np.float32).reshape(k2, H * W).T  # H·W x k²
    nearest = pairwise_distances_argmin(pixels, np.asarray(centroids, dtype=np.float32))
    return colors[nearest].reshape(H, W, 3)


def filter_views(filters_list: list[np.ndarray], clusters: int = 400, seed: int = 0, max_pixels: int = 10000,
                 components: int = 10) -> dict[str, list[np.ndarray] | np.ndarray | float]:
    """Per-image k² x H x W filters -> Fig. 6.6: flow maps, PCA grid and energy, nearest-centroid maps.

    PCA and k-means see at most max_pixels filters drawn uniformly (seeded) from all images together; flow and
    cluster maps cover every pixel.
    """
    k = math.isqrt(filters_list[0].shape[0])
    bag = np.concatenate([np.asarray(f, dtype=np.float32).reshape(k * k, -1).T for f in filters_list])  # P x k²
    rng = np.random.default_rng(seed)
    if len(bag) > max_pixels:
        bag = bag[np.sort(rng.choice(len(bag), max_pixels, replace=False))]
    basis, energy, _ = filter_pca(bag, components)
    _, centroids = filter_clusters(bag, min(clusters, len(bag)), seed)
    colors = centroid_colors(centroids, seed)
    return {
        "flow_maps": [filter_flow_map(f) for f in filters_list],
        "pca_grid": pca_grid(basis, k),
        "pca_energy": energy,
        "cluster_maps": [cluster_map(f, centroids, colors) for f in filters_list],
    }
