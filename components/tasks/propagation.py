"""Tracking by mask propagation (thesis §7.3.1 "Inference"): carry the first frame's object masks through a clip
with a model's flows.

Frame t's soft mask of each object is the mean of the masks of its context frames carried onto t's grid by the
flow of t into each (bilinear, so values stay in [0, 1]): the K previous frames' propagated masks and, with
`use_first`, the given first-frame mask (the thesis's "1st" rows). Each propagated mask is thresholded at 0.8
before it is carried on, which keeps mask pixels from diffusing into the background; where several objects
pass the threshold the largest soft value wins.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from components.models.warp import warp

THRESHOLD = 0.8     # §7.3.1

Flow = Callable[[int, int], np.ndarray]     # (t, s) -> the flow (H, W, 2) of frame t's pixels into frame s


def context_frames(t: int, window: int, use_first: bool) -> list[int]:
    """The frames whose masks frame t is propagated from: up to `window` previous ones, and frame 0 if asked."""
    frames = list(range(max(0, t - window), t))
    return sorted(set(frames) | {0}) if use_first else frames


def propagate(first: np.ndarray, num_frames: int, flow: Flow, window: int, use_first: bool,
              threshold: float = THRESHOLD) -> np.ndarray:
    """First frame's label map (H, W; 0 = background, every other id an object), clip length, flows -> label
    maps (T, H, W) of the same ids, frame 0 being `first`."""
    ids = np.asarray([i for i in np.unique(first) if i != 0], first.dtype)
    labels = np.zeros((num_frames, *first.shape), first.dtype)
    labels[0] = first
    if not len(ids):
        return labels
    for t in range(1, num_frames):
        context = context_frames(t, window, use_first)
        # Each context frame's binary object masks (context x objects x H x W), all carried in one warp.
        masks = np.stack([labels[c][None] == ids[:, None, None] for c in context]).astype(np.float32)
        flows = np.stack([flow(t, c) for c in context]).transpose(0, 3, 1, 2)
        soft = warp(torch.from_numpy(masks), torch.from_numpy(np.ascontiguousarray(flows))).mean(0).numpy()
        keep = soft.max(0) >= threshold
        labels[t] = np.where(keep, ids[soft.argmax(0)], 0)
    return labels
