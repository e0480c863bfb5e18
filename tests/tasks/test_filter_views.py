"""Fig. 6.6 views: flow colours, filter flow maps of shifted deltas, PCA energy/span, planted clusters, end-to-end."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv
from sklearn.metrics import adjusted_rand_score

from components.tasks.colorize import flow_to_color
from components.tasks.filter_views import (centroid_colors, cluster_map, filter_clusters, filter_flow_map,
                                           filter_pca, filter_views, pca_grid)


def hsv(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_hsv(rgb.astype(np.float64) / 255)


def softmax_filters(rng: np.random.Generator, k: int, H: int, W: int) -> np.ndarray:
    logits = rng.normal(size=(k * k, H, W)) * 2
    weights = np.exp(logits - logits.max(0))
    return (weights / weights.sum(0)).astype(np.float32)


def planted(rng: np.random.Generator, k2: int, clusters: int, per_cluster: int) -> tuple[np.ndarray, np.ndarray]:
    """clusters well-separated centres in k² dims, per_cluster noisy copies each -> (P x k² filters, labels)."""
    centres = rng.normal(size=(clusters, k2))
    labels = np.repeat(np.arange(clusters), per_cluster)
    return centres[labels] + 0.01 * rng.normal(size=(len(labels), k2)), labels


def test_zero_flow_is_white_even_among_moving_pixels():
    flow = np.array([[[0.0, 0.0], [3.0, -1.0]], [[0.0, 0.0], [-2.0, 0.5]]])
    rgb = flow_to_color(flow)
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert (rgb[:, 0] == 255).all()
    assert (rgb[:, 1] < 250).any()
    assert (flow_to_color(np.zeros((3, 4, 2))) == 255).all()


@pytest.mark.parametrize("direction", [(1.0, 0.0), (0.0, 1.0), (0.6, -0.8)])
def test_opposite_directions_have_opposite_hues(direction):
    flow = np.array([[direction, (-direction[0], -direction[1])]])
    hue = hsv(flow_to_color(flow))[0, :, 0]
    gap = abs(hue[0] - hue[1]) % 1.0
    assert min(gap, 1 - gap) == pytest.approx(0.5, abs=0.02)


def test_hue_convention_red_along_x_and_y_points_down():
    rgb = flow_to_color(np.array([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]]))
    np.testing.assert_array_equal(rgb[0, 0], [255, 0, 0])
    assert hsv(rgb)[0, 1, 0] == pytest.approx(0.25, abs=0.01)  # +dy (down the image) is a quarter turn on
    assert hsv(rgb)[0, 2, 0] == pytest.approx(0.5, abs=0.01)


def test_larger_magnitude_is_more_saturated_and_clipped_at_max():
    flow = np.array([[[0.5, 0.0], [1.0, 0.0], [2.0, 0.0], [4.0, 0.0]]])
    saturation = hsv(flow_to_color(flow, max_magnitude=2.0))[0, :, 1]
    assert saturation[0] < saturation[1] < saturation[2]
    assert saturation[2] == pytest.approx(1.0) and saturation[3] == pytest.approx(1.0)
    assert saturation[0] == pytest.approx(0.25, abs=0.01)
    # Without max_magnitude the map's own largest flow is fully saturated.
    assert hsv(flow_to_color(flow))[0, 3, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("dy, dx", [(1, -2), (-2, 0), (0, 1), (2, 2)])
def test_filter_flow_map_of_shifted_delta_is_the_flow_colour(dy, dx):
    k, H, W = 5, 6, 7
    filters = np.zeros((k * k, H, W), np.float32)
    filters[(dy + k // 2) * k + (dx + k // 2)] = 1.0
    rgb = filter_flow_map(filters)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    assert (rgb == rgb[0, 0]).all()
    np.testing.assert_array_equal(rgb[0, 0], flow_to_color(np.array([[[dx, dy]]], float))[0, 0])
    np.testing.assert_array_equal(filter_flow_map(filters, max_magnitude=4.0)[0, 0],
                                  flow_to_color(np.array([[[dx, dy]]], float), max_magnitude=4.0)[0, 0])


def test_pca_of_three_patterns_captures_their_energy_and_spans_them():
    rng = np.random.default_rng(0)
    patterns = np.linalg.qr(rng.normal(size=(25, 3)))[0].T  # 3 orthonormal k² = 25 patterns
    loadings = rng.normal(size=(2000, 3)) * np.array([3.0, 2.0, 1.0])
    filters = loadings @ patterns + 1e-4 * rng.normal(size=(2000, 25))
    basis, energy, fractions = filter_pca(filters, components=3)
    assert basis.shape == (3, 25) and fractions.shape == (3,)
    assert energy > 0.99 and energy == pytest.approx(fractions.sum())
    np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-8)
    projected = patterns @ basis.T @ basis  # each pattern projected onto the span of the basis
    np.testing.assert_allclose(projected, patterns, atol=1e-3)


def test_pca_energies_are_sorted_fractions_of_the_uncentred_energy():
    rng = np.random.default_rng(1)
    filters = softmax_filters(rng, 5, 10, 10).reshape(25, -1).T
    _, energy, fractions = filter_pca(filters, components=10)
    assert (np.diff(fractions) <= 1e-12).all() and 0 < energy <= 1
    assert filter_pca(filters, components=25)[1] == pytest.approx(1.0)
    # Energy is the uncentred second moment: identical filters are one direction holding all of it
    # (centred PCA would see zero variance).
    same = np.tile(filters[:1], (50, 1))
    assert filter_pca(same, components=1)[1] == pytest.approx(1.0)


def test_pca_grid_tiles_are_large_and_diverge_around_zero():
    k = 5
    basis = np.zeros((10, k * k))
    basis[:, 0], basis[:, -1] = 1.0, -1.0  # top-left positive, bottom-right negative, rest zero
    grid = pca_grid(basis, k)
    tile = 35  # smallest multiple of k that is >= 34 px
    assert grid.shape == (2 * tile + 2, 5 * tile + 4 * 2, 3) and grid.dtype == np.uint8
    top_left, bottom_right, middle = grid[0, 0].astype(int), grid[tile - 1, tile - 1].astype(int), grid[17, 17]
    assert top_left[0] > top_left[2] + 50 and bottom_right[2] > bottom_right[0] + 50  # red +, blue -
    assert middle.min() > 230  # zero is (near) white
    assert (grid[tile:tile + 2] == 255).all()  # gutter between the rows


def test_filter_clusters_recover_planted_clusters():
    rng = np.random.default_rng(2)
    filters, truth = planted(rng, 25, clusters=6, per_cluster=40)
    labels, centroids = filter_clusters(filters, clusters=6, seed=0)
    assert labels.shape == truth.shape and centroids.shape == (6, 25)
    assert adjusted_rand_score(truth, labels) == pytest.approx(1.0)


@pytest.mark.parametrize("clusters", [3, 12])  # PCA embedding below 10 centroids, t-SNE from 10 on
def test_cluster_map_colours_same_planted_filter_identically(clusters):
    rng = np.random.default_rng(3)
    filters, truth = planted(rng, 9, clusters=clusters, per_cluster=30)
    labels, centroids = filter_clusters(filters, clusters=clusters, seed=0)
    colors = centroid_colors(centroids, seed=0)
    assert colors.shape == (clusters, 3) and colors.dtype == np.uint8
    assert len({tuple(c) for c in colors}) == clusters
    H, W = 10, len(filters) // 10
    rgb = cluster_map(filters[:H * W].T.reshape(9, H, W), centroids, colors)
    assert rgb.shape == (H, W, 3)
    flat = rgb.reshape(-1, 3)
    for label in np.unique(truth):
        assert len(np.unique(flat[truth == label], axis=0)) == 1
    np.testing.assert_array_equal(flat, colors[labels])
    np.testing.assert_array_equal(centroid_colors(centroids, seed=0), colors)


def test_filter_views_end_to_end_and_deterministic():
    rng = np.random.default_rng(4)
    k, H, W = 5, 12, 16
    filters_list = [softmax_filters(rng, k, H, W) for _ in range(3)]
    views = filter_views(filters_list, clusters=12, seed=0, max_pixels=300)
    assert len(views["flow_maps"]) == len(views["cluster_maps"]) == 3
    for image in (*views["flow_maps"], *views["cluster_maps"]):
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
    assert views["pca_grid"].shape == (2 * 35 + 2, 5 * 35 + 8, 3)
    assert 0 < views["pca_energy"] <= 1
    again = filter_views(filters_list, clusters=12, seed=0, max_pixels=300)
    assert again["pca_energy"] == views["pca_energy"]
    for key in ("flow_maps", "cluster_maps"):
        for a, b in zip(views[key], again[key]):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(views["pca_grid"], again["pca_grid"])
