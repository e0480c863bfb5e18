"""DAVIS-style J and F on hand-made masks: every empty-mask rule, the boundary tolerance, the excluded frames,
recall and decay, and the averaging over objects."""
from __future__ import annotations

import numpy as np
import pytest

from components.metrics.tracking import (boundary_map, boundary_measure, boundary_tolerance, clip_scores,
                                         object_statistics, overall_scores, region_similarity)


def square(size: tuple[int, int], top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros(size, bool)
    mask[top:top + side, left:left + side] = True
    return mask


EMPTY = np.zeros((20, 30), bool)
BOX = square((20, 30), 5, 5, 6)


def test_region_similarity_is_the_iou_and_one_when_both_are_empty() -> None:
    assert region_similarity(BOX, BOX) == 1.0 and region_similarity(EMPTY, EMPTY) == 1.0
    assert region_similarity(BOX, EMPTY) == 0.0 and region_similarity(EMPTY, BOX) == 0.0
    shifted = square((20, 30), 5, 8, 6)                       # 6 x 3 overlap of two 6 x 6 squares
    assert region_similarity(BOX, shifted) == pytest.approx(18 / (36 + 36 - 18))


def test_boundary_map_marks_pixels_with_a_different_east_south_or_south_east_neighbour() -> None:
    mask = square((6, 6), 2, 2, 2)                            # pixels (2..3, 2..3)
    expected = np.zeros((6, 6), bool)
    expected[1, 1:4] = expected[1:4, 1] = True                # their north-west, north and west neighbours
    expected[2:4, 3] = expected[3, 2] = True                  # their own east and south edge
    assert np.array_equal(boundary_map(mask), expected)
    # The image border is no boundary: a mask filling the frame has none.
    assert not boundary_map(np.ones((5, 7), bool)).any()


def test_boundary_measure_empty_rules_and_tolerance() -> None:
    assert boundary_measure(EMPTY, EMPTY) == 1.0                # both empty
    assert boundary_measure(BOX, EMPTY) == 0.0 and boundary_measure(EMPTY, BOX) == 0.0   # exactly one
    assert boundary_tolerance(480, 854) == 8 and boundary_tolerance(20, 30) == 1
    assert boundary_measure(BOX, BOX) == 1.0
    # One pixel off is inside the 1-px tolerance of a 20 x 30 frame; five pixels off is not.
    assert boundary_measure(square((20, 30), 6, 5, 6), BOX) == 1.0
    assert boundary_measure(square((20, 30), 5, 17, 6), BOX) == 0.0


def test_object_statistics_mean_recall_and_decay_with_shared_quarter_bounds() -> None:
    scores = np.array([1.0, 0.9, 0.8, 0.6, 0.4, 0.2, 0.1, 0.0, 0.0])
    stats = object_statistics(scores)
    assert stats["mean"] == pytest.approx(scores.mean()) and stats["recall"] == pytest.approx(4 / 9)
    # 9 frames: bounds round(linspace(1, 9, 5)) - 1 = 0, 2, 4, 6, 8; first quarter 0..2, last 6..8.
    assert stats["decay"] == pytest.approx(np.mean([1.0, 0.9, 0.8]) - np.mean([0.1, 0.0, 0.0]))


def test_clip_scores_skip_the_first_and_last_frames_and_score_each_object() -> None:
    truth = np.zeros((5, 20, 30), np.uint8)
    truth[:, 2:8, 2:8] = 3                                     # object ids as in the first frame: 3 and 7
    truth[:, 10:16, 12:20] = 7
    predicted = truth.copy()
    predicted[0] = predicted[-1] = 0                           # wrong, but never scored
    predicted[2][predicted[2] == 7] = 0                        # object 7 lost in frame 2 only
    scores = clip_scores(predicted, truth)
    assert set(scores) == {3, 7}
    assert scores[3]["J"]["mean"] == 1.0 and scores[3]["F"]["mean"] == 1.0
    assert scores[7]["J"]["mean"] == pytest.approx(2 / 3) and scores[7]["F"]["mean"] == pytest.approx(2 / 3)
    assert scores[7]["J"]["recall"] == pytest.approx(2 / 3)
    overall = overall_scores(list(scores.values()))
    assert overall["J_mean"] == pytest.approx((1 + 2 / 3) / 2)
    assert overall["jf_mean"] == pytest.approx((overall["J_mean"] + overall["F_mean"]) / 2)
    with pytest.raises(ValueError):
        clip_scores(predicted[:2], truth[:2])


def test_boundary_measure_matches_a_distance_transform_computation() -> None:
    from scipy.ndimage import distance_transform_edt, gaussian_filter
    rng = np.random.default_rng(0)
    for _ in range(5):
        # Blobby random masks on a 60 x 90 frame: tolerance ceil(0.008 * 108.2) = 1 px.
        truth = gaussian_filter(rng.random((60, 90)), 4) > 0.5
        predicted = gaussian_filter(rng.random((60, 90)), 4) > 0.5
        a, b = boundary_map(predicted), boundary_map(truth)
        radius = boundary_tolerance(60, 90)
        precision = (distance_transform_edt(~b)[a] <= radius).mean()
        recall = (distance_transform_edt(~a)[b] <= radius).mean()
        assert boundary_measure(predicted, truth) == pytest.approx(2 * precision * recall / (precision + recall))
