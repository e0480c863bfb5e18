"""Clips of real video stored as one image file per frame (Sintel, DAVIS 2017, JHMDB), resized on read.

`FrameClip` implements components.data.video's Clip protocol over the files: frame t's RGB (and instance ids
where the dataset annotates them), and the flow of t into t + 1 where the dataset has it. Everything is resized
to the stage's height x width: frames bilinearly, instance ids and valid masks by nearest neighbour, and flow
fields by nearest neighbour with u scaled by the width ratio and v by the height ratio (a flow field is not
an image: averaging vectors across a motion boundary invents motion no pixel has).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from components.data.image_io import read_rgb
from components.errors import PixelpredError

_NOT_KEY = re.compile(r"[^A-Za-z0-9_\-]")   # shard keys: no dots, slashes, spaces or other punctuation

MaskReader = Callable[[int], np.ndarray]                          # t -> H x W instance ids (0: background)
FlowReader = Callable[[int], tuple[np.ndarray, np.ndarray]]       # t -> (flow of t into t + 1, valid mask)


def clip_key(*parts: str) -> str:
    """('sintel', 'final', 'alley_1') -> 'sintel-final-alley_1': a shard key, other characters replaced by '-'."""
    return "-".join(_NOT_KEY.sub("-", part) for part in parts)


def nearest_rows_cols(shape: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Source (H, W) -> the source row and column each pixel centre of the target (h, w) falls in."""
    (height, width), (h, w) = shape, size
    rows = np.minimum(((np.arange(h) + 0.5) * height / h).astype(int), height - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * width / w).astype(int), width - 1)
    return rows, cols


def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rows, cols = nearest_rows_cols(array.shape[:2], size)
    return array[rows][:, cols]


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Flow H x W x 2 in source pixels -> h x w x 2 in target pixels."""
    height, width = flow.shape[:2]
    scale = np.array([size[1] / width, size[0] / height], np.float32)
    return (resize_nearest(flow, size) * scale).astype(np.float32)


@dataclass(frozen=True)
class FrameClip:
    frame_paths: tuple[Path, ...]
    size: tuple[int, int]                     # (height, width) every frame, mask and flow is resized to
    read_masks: MaskReader | None = None
    read_flow: FlowReader | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frame_paths)

    def frame(self, t: int) -> dict[str, np.ndarray]:
        rgb = read_rgb(self.frame_paths[t])
        out = {"rgb": np.asarray(Image.fromarray(rgb).resize(self.size[::-1], Image.BILINEAR))}
        if self.read_masks is not None:
            masks = self.read_masks(t)
            if masks.shape != rgb.shape[:2]:
                raise PixelpredError(f"{self.frame_paths[t]}: masks {masks.shape} and frame {rgb.shape[:2]} differ")
            out["inst"] = resize_nearest(masks, self.size).astype(np.uint16)
        return out

    def flow(self, t: int, s: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The stored flow of t into t + 1 (resized), or None: datasets store no other pair."""
        if self.read_flow is None or s != t + 1:
            return None
        flow, valid = self.read_flow(t)
        return resize_flow(flow, self.size), resize_nearest(valid, self.size).astype(bool)
