"""Views of video models (components.tasks.video_views): mask overlays and pixel tracks chained through flows."""
from __future__ import annotations

import numpy as np

from components.tasks.colorize import label_palette
from components.tasks.video_views import SCALE, draw_tracks, grid_points, overlay_labels, track_colors, track_points


def test_tracks_follow_constant_and_varying_flows_and_stop_outside():
    flows = [np.full((10, 20, 2), (2.0, 1.0), np.float32)] * 3
    points = np.array([[1.0, 1.0], [15.0, 2.0]])
    tracks = track_points(flows, points)
    assert tracks.shape == (4, 2, 2)
    np.testing.assert_allclose(tracks[:, 0], [[1, 1], [3, 2], [5, 3], [7, 4]])
    # The second point reaches the last column (x = 19) at the second step and x = 21 at the third: NaN.
    np.testing.assert_allclose(tracks[:3, 1], [[15, 2], [17, 3], [19, 4]])
    assert np.isnan(tracks[3, 1]).all()
    assert np.isnan(track_points(flows, np.array([[19.5, 2.0]]))[1:]).all()     # and stays NaN
    # A flow growing to the right is sampled bilinearly where the point is: x = 2.5 gets dx = 0.25 (x / 10).
    ramp = np.zeros((5, 8, 2), np.float32)
    ramp[..., 0] = np.arange(8) / 10
    np.testing.assert_allclose(track_points([ramp], np.array([[2.5, 1.0]]))[1], [[2.75, 1.0]])


def test_overlay_colours_objects_only():
    frame = np.full((4, 6, 3), 100, np.uint8)
    labels = np.zeros((4, 6), np.int64)
    labels[1:3, 2:4] = 5
    image = overlay_labels(frame, labels)
    assert image.shape == (4 * SCALE, 6 * SCALE, 3)
    np.testing.assert_array_equal(image[0, 0], [100, 100, 100])
    expected = np.round(0.45 * 100 + 0.55 * label_palette()[5].astype(np.float32))
    np.testing.assert_array_equal(image[SCALE + 1, 2 * SCALE + 1], expected)


def test_drawn_tracks_mark_their_path_in_their_colour():
    frame = np.zeros((10, 10, 3), np.uint8)
    tracks = np.array([[[1.0, 5.0]], [[7.0, 5.0]]])                   # one point moving 6 px right
    colors = track_colors(tracks[0], 10, 10)
    image = draw_tracks(frame, tracks, colors)
    assert image.shape == (10 * SCALE, 10 * SCALE, 3)
    row = 5 * SCALE + (SCALE - 1) // 2
    painted = np.flatnonzero((image[row] == colors[0]).all(1))
    assert painted.min() == 1 * SCALE + (SCALE - 1) // 2 and painted.max() >= 7 * SCALE + (SCALE - 1) // 2
    assert not image[:row - 2].any()                                  # nothing above the path's end mark


def test_grid_points_and_colours_come_from_the_one_colour_wheel():
    points = grid_points(24, 36, 12)
    np.testing.assert_array_equal(points, [[6, 6], [18, 6], [30, 6], [6, 18], [18, 18], [30, 18]])
    colors = track_colors(points, 24, 36)
    assert colors.shape == (6, 3) and colors.dtype == np.uint8
    assert len({tuple(c) for c in colors}) == 6                       # every start its own colour
