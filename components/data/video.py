"""Frame-pair sharding (SPEC §4.4, thesis §7.3.1): clips -> training pairs at random gaps; evaluation clips whole.

A clip is anything with `num_frames`, `frame(t)` (a dict with at least `rgb`, optionally `inst`) and
`flow(t, s)` (the flow of frame t's pixels into frame s and its valid mask, or None where a dataset has no flow):
synth.video.SynthClip, and later the converters of real video. Flow convention: the surface seen at pixel p of
frame t is seen at p + flow(p) in frame s, (dx, dy) in pixels (see components.data.synth.video).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


class Clip(Protocol):
    num_frames: int

    def frame(self, t: int) -> dict[str, np.ndarray]: ...

    def flow(self, t: int, s: int) -> tuple[np.ndarray, np.ndarray] | None: ...


def draw_pairs(num_frames: int, count: int, max_gap: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """-> `count` frame pairs (t, s) of one clip: gap |s - t| uniform in 1..max_gap, start uniform, and either
    order (the later frame first half the time), so the pairs carry no bias towards forward motion."""
    pairs = []
    for _ in range(count):
        gap = int(rng.integers(1, max_gap + 1))
        first = int(rng.integers(0, num_frames - gap))
        pairs.append((first + gap, first) if rng.random() < 0.5 else (first, first + gap))
    return pairs


def pair_sample(clip: Clip, t: int, s: int, meta: dict) -> dict:
    """Frames t and s of a clip -> a pair sample: a, b, and where the clip has flow, the flow of a into b and of b
    into a with their valid masks (0/1 uint8); meta gains the frame indices and the gap."""
    sample = {"a": clip.frame(t)["rgb"], "b": clip.frame(s)["rgb"],
              "meta": {**meta, "frames": [t, s], "gap": abs(s - t)}}
    forward, backward = clip.flow(t, s), clip.flow(s, t)
    if forward is not None and backward is not None:
        sample["flow"], sample["valid"] = forward[0], forward[1].astype(np.uint8)
        sample["flow_back"], sample["valid_back"] = backward[0], backward[1].astype(np.uint8)
    return sample


def clip_sample(clip: Clip, gaps: tuple[int, ...], meta: dict) -> dict:
    """A whole clip -> an evaluation sample: frames (T, H, W, 3), instance masks (T, H, W) when the clip has them,
    and per gap g the flow of frame t into t + g as flows[g index, t] (zero, and invalid, where t + g >= T)."""
    frames = [clip.frame(t) for t in range(clip.num_frames)]
    sample = {"frames": np.stack([f["rgb"] for f in frames]), "meta": {**meta, "gaps": list(gaps),
                                                                        "num_frames": clip.num_frames}}
    if all("inst" in f for f in frames):
        sample["masks"] = np.stack([f["inst"] for f in frames])
    height, width = sample["frames"].shape[1:3]
    flows = np.zeros((len(gaps), clip.num_frames, height, width, 2), np.float32)
    valid = np.zeros((len(gaps), clip.num_frames, height, width), np.uint8)
    for g, gap in enumerate(gaps):
        for t in range(clip.num_frames - gap):
            flow = clip.flow(t, t + gap)
            if flow is None:
                return sample
            flows[g, t], valid[g, t] = flow[0], flow[1]
    return {**sample, "flows": flows, "flows_valid": valid}

