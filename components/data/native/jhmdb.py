"""JHMDB (ch. 7: tracking of a person): `Rename_Images/<action>/<video>/NNNNN.png` frames and
`puppet_mask/<action>/<video>/puppet_mask.mat` (MATLAB v5, `part_mask`: H x W x T, 1 on the actor's puppet
mask), each archive unpacked into a directory of its name and holding a top folder of that name itself. Split 1 of the official lists `splits/<action>_test_split1.txt`
("<video>.avi 1" train, "... 2" test) gives train (val: every VAL_EVERY-th) and test. The actor is instance 1.
No flow; the thesis tracks JHMDB's joints, which these clips do not carry (joint_positions.zip is fetched and
left as it is).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.io

from components.config import RealVideoConfig
from components.data.native import hold_out_val
from components.data.native.frames import FrameClip, clip_key
from components.data.video import VideoSource
from components.errors import PixelpredError

SPLIT = 1
TRAIN, TEST = "1", "2"


def read_puppet_masks(path: Path) -> np.ndarray:
    """puppet_mask.mat -> T x H x W uint8 (1: the actor)."""
    masks = scipy.io.loadmat(path)["part_mask"]
    return np.ascontiguousarray(np.moveaxis(masks > 0, -1, 0).astype(np.uint8))


class JHMDB(VideoSource):
    name = "jhmdb"

    def videos(self, raw_dir: Path) -> dict[str, list[tuple[str, str]]]:
        lists = raw_dir / "splits" / "splits"
        if not lists.is_dir():
            raise PixelpredError(f"{lists} is missing (is splits.zip unpacked? run the download stage)")
        listed = {TRAIN: [], TEST: []}
        for path in sorted(lists.glob(f"*_test_split{SPLIT}.txt")):
            action = path.name.removesuffix(f"_test_split{SPLIT}.txt")
            for line in path.read_text().splitlines():
                if line.strip():
                    video, which = line.split()
                    listed[which].append((action, video.removesuffix(".avi")))
        return {**hold_out_val(sorted(listed[TRAIN])), "test": sorted(listed[TEST])}

    def clips(self, raw_dir: Path, split: str, config: RealVideoConfig) -> Iterator[tuple[str, FrameClip]]:
        for action, video in self.videos(raw_dir)[split]:
            frames = tuple(sorted((raw_dir / "Rename_Images" / "Rename_Images" / action / video).glob("*.png")))
            masks = read_puppet_masks(raw_dir / "puppet_mask" / "puppet_mask" / action / video / "puppet_mask.mat")
            # A few videos have one mask fewer than frames: the clip ends with its last annotated frame.
            count = min(len(frames), len(masks))
            if count < 2:
                raise PixelpredError(f"JHMDB {action}/{video}: {len(frames)} frames and {len(masks)} masks")
            yield clip_key(self.name, action, video), FrameClip(frames[:count], (config.height, config.width),
                                                                read_masks=lambda t, masks=masks: masks[t])


SOURCE = JHMDB()
