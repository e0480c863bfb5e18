"""MPI-Sintel (ch. 7: flow and unsupervised training clips): `training/<pass>/<scene>/frame_NNNN.png`, with
`training/flow/<scene>/frame_NNNN.flo` (Middlebury .flo: the flow of frame N into N + 1), and the masks
`training/occlusions/<scene>/frame_NNNN.png` (255: occluded in N + 1) and `training/invalid/...` (255: no valid
flow). Only the official training set has flow; its 23 scenes are split by scene so that no split sees another's
frames: every TEST_EVERY-th scene (sorted) is a test clip (the final pass), the rest train and val (every pass in
`real_video.sintel_passes`, val every VAL_EVERY-th of them). A pixel's flow is valid where it is neither occluded
nor invalid (the EPE "noc" convention); Sintel stores no backward flow, so its training pairs carry no flow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from components.config import RealVideoConfig
from components.data.flo import read_flo, unknown
from components.data.native import hold_out_val
from components.data.native.frames import FrameClip, clip_key
from components.data.video import VideoSource
from components.errors import PixelpredError

ROOT = Path("MPI-Sintel-complete/training")
TEST_EVERY = 4         # scenes 0, 4, 8, ... of 23: 6 test clips
TEST_PASS = "final"    # motion blur, fog and lighting: the harder pass, the one benchmarks rank by


def read_mask(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L")) > 127


class Sintel(VideoSource):
    name = "sintel"

    def scenes(self, raw_dir: Path) -> dict[str, list[str]]:
        flow_dir = raw_dir / ROOT / "flow"
        if not flow_dir.is_dir():
            raise PixelpredError(f"{flow_dir} is missing (is MPI-Sintel-complete.zip unpacked? run the download stage)")
        scenes = sorted(path.name for path in flow_dir.iterdir() if path.is_dir())
        test = scenes[::TEST_EVERY]
        return {**hold_out_val([s for s in scenes if s not in test]), "test": test}

    def clip(self, raw_dir: Path, pass_name: str, scene: str, config: RealVideoConfig) -> FrameClip:
        root = raw_dir / ROOT
        frames = tuple(sorted((root / pass_name / scene).glob("frame_*.png")))

        def read_flow(t: int) -> tuple[np.ndarray, np.ndarray]:
            name = frames[t].stem
            flow = read_flo(root / "flow" / scene / f"{name}.flo")
            valid = ~unknown(flow) & ~read_mask(root / "occlusions" / scene / f"{name}.png")
            invalid = root / "invalid" / scene / f"{name}.png"
            if invalid.exists():
                valid &= ~read_mask(invalid)
            return np.where(valid[..., None], flow, 0).astype(np.float32), valid

        return FrameClip(frames, (config.height, config.width), read_flow=read_flow)

    def clips(self, raw_dir: Path, split: str, config: RealVideoConfig) -> Iterator[tuple[str, FrameClip]]:
        passes = (TEST_PASS,) if split == "test" else config.sintel_passes
        for scene in self.scenes(raw_dir)[split]:
            for pass_name in passes:
                yield clip_key(self.name, pass_name, scene), self.clip(raw_dir, pass_name, scene, config)


SOURCE = Sintel()
