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
    objects = [int(i) for i in np.unique(first) if i != 0]
    height, width = first.shape
    labels = np.zeros((num_frames, height, width), first.dtype)
    labels[0] = first
    if not objects:
        return labels
    # Binary masks per object and frame, the ones carried on (frame 0: the given masks).
    masks = np.zeros((num_frames, len(objects), height, width), np.float32)
    masks[0] = np.stack([first == obj for obj in objects])
    for t in range(1, num_frames):
        context = context_frames(t, window, use_first)
        carried = [warp(torch.from_numpy(masks[c])[None], torch.from_numpy(flow(t, c)).permute(2, 0, 1)[None])[0]
                   for c in context]
        soft = torch.stack(carried).mean(0).numpy()                # objects x H x W
        winner = soft.argmax(0)
        keep = soft.max(0) >= threshold
        for index in range(len(objects)):
            masks[t, index] = keep & (winner == index)
        labels[t] = np.where(keep, np.asarray(objects, first.dtype)[winner], 0)
    return labels
