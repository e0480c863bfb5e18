"""Frame-pair sharding (SPEC §4.4, thesis §7.3.1): clips -> training pairs at random gaps; evaluation clips whole.

A clip is anything with `num_frames`, `frame(t)` (a dict with at least `rgb`, optionally `inst`) and
`flow(t, s)` (the flow of frame t's pixels into frame s and its valid mask, or None where a dataset has no flow):
synth.video.SynthClip, and native.frames.FrameClip for the real video sets (`VideoSource`). Flow convention: the
surface seen at pixel p of frame t is seen at p + flow(p) in frame s, (dx, dy) in pixels (components.data.synth.video).
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from components.config import RealVideoConfig
from components.errors import PixelpredError


class Clip(Protocol):
    num_frames: int

    def frame(self, t: int) -> dict[str, np.ndarray]: ...

    def flow(self, t: int, s: int) -> tuple[np.ndarray, np.ndarray] | None: ...


class VideoSource(ABC):
    """A real video dataset's converter (components.data.native.<converter>.SOURCE): its native files -> clips."""
    name: str

    @abstractmethod
    def clips(self, raw_dir: Path, split: str, config: RealVideoConfig) -> Iterator[tuple[str, Clip]]:
        """One split's clips (train, val or test) with their shard keys (native.frames.clip_key); frames are read
        lazily, by the clip."""


def get_video_source(name: str) -> VideoSource:
    """A registry dataset's name -> its video converter."""
    from components.data import registry

    converter = registry.entry(name).converter
    source = importlib.import_module(f"components.data.native.{converter}").SOURCE if converter else None
    if not isinstance(source, VideoSource):
        raise PixelpredError(f"dataset '{name}' is not a video dataset (components/data/registry.yaml)")
    return source


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
    and for each gap g of `gaps` at which the clip has flow (meta `flow_gaps`; Sintel: 1 only, DAVIS: none) the flow
    of frame t into t + g as flows[index of g in flow_gaps, t] (zero, and invalid, where t + g >= T). meta `gaps`
    are the gaps the evaluation predicts flow at, stored flow or not."""
    frames = [clip.frame(t) for t in range(clip.num_frames)]
    sample = {"frames": np.stack([f["rgb"] for f in frames])}
    if all("inst" in f for f in frames):
        sample["masks"] = np.stack([f["inst"] for f in frames])
    height, width = sample["frames"].shape[1:3]
    stored = {}
    for gap in gaps:
        pairs = [clip.flow(t, t + gap) for t in range(clip.num_frames - gap)]
        if pairs and all(pair is not None for pair in pairs):
            stored[gap] = pairs
    if stored:
        sample["flows"] = np.zeros((len(stored), clip.num_frames, height, width, 2), np.float32)
        sample["flows_valid"] = np.zeros((len(stored), clip.num_frames, height, width), np.uint8)
        for index, pairs in enumerate(stored.values()):
            for t, (flow, valid) in enumerate(pairs):
                sample["flows"][index, t], sample["flows_valid"][index, t] = flow, valid
    sample["meta"] = {**meta, "gaps": list(gaps), "flow_gaps": list(stored), "num_frames": clip.num_frames}
    return sample

