"""Mask propagation on hand-made clips: exact flows carry every object exactly, zero flow is the identity
baseline, the 0.8 threshold and the context window behave as specified."""
from __future__ import annotations

import numpy as np

from components.metrics.tracking import clip_scores, overall_scores
from components.tasks.propagation import context_frames, propagate

T, H, W = 6, 24, 40


def moving_clip() -> np.ndarray:
    """Label maps of a camera panning left: objects 2 and 5 move 2 px right per frame, the background with them
    (so nothing is disoccluded, where even the exact flow would carry an object's label onto the background)."""
    labels = np.zeros((T, H, W), np.uint8)
    for t in range(T):
        labels[t, 4:10, 3 + 2 * t:9 + 2 * t] = 2
        labels[t, 14:20, 14 + 2 * t:20 + 2 * t] = 5
    return labels


def exact_flow(t: int, s: int) -> np.ndarray:
    """Frame t's pixels into frame s: 2 (t - s) px back."""
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = -2.0 * (t - s)
    return flow


def test_exact_flows_track_every_object_and_zero_flow_is_the_identity_baseline() -> None:
    truth = moving_clip()
    tracked = propagate(truth[0], T, exact_flow, window=1, use_first=False)
    assert np.array_equal(tracked, truth)
    still = propagate(truth[0], T, lambda t, s: np.zeros((H, W, 2), np.float32), window=3, use_first=True)
    assert all(np.array_equal(still[t], truth[0]) for t in range(T))    # the first mask copied: identity
    ours, identity = overall_scores(list(clip_scores(tracked, truth).values())), \
        overall_scores(list(clip_scores(still, truth).values()))
    assert ours["J_mean"] == 1.0 and identity["J_mean"] < 0.9


def test_the_threshold_drops_pixels_carried_at_half_weight() -> None:
    truth = moving_clip()
    def half(t: int, s: int) -> np.ndarray:                  # every pixel reads half a pixel to its right
        return np.broadcast_to(np.array([0.5, 0.0], np.float32), (H, W, 2)).copy()
    labels = propagate(truth[0], 2, half, window=1, use_first=False)
    # Reading half a pixel to the right: the object's right column becomes 0.5 and is dropped at 0.8.
    assert (labels[1] == 2).sum() == 6 * 5 and (labels[1] == 5).sum() == 6 * 5
    assert (propagate(truth[0], 2, half, window=1, use_first=False, threshold=0.4)[1] == 2).sum() == 6 * 7


def test_context_frames() -> None:
    assert context_frames(1, 3, False) == [0] and context_frames(5, 3, False) == [2, 3, 4]
    assert context_frames(5, 3, True) == [0, 2, 3, 4] and context_frames(2, 3, True) == [0, 1]
