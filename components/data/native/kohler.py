"""Köhler et al. ECCV 2012 (real camera shake; deblurring evaluation): 4 printed images x 12 recorded trajectories.

Each blurry photo was taken while a robot played back a recorded human camera shake; the same motion was then
played back step by step and a sharp frame photographed at each pose (about 199 per trajectory). The archives
(paths as deepinv's `datasets/kohler.py` reads them once every zip is extracted into one folder):
- BlurryImages.zip: `Blurry<i>_<t>.png`, i = printout 1..4, t = trajectory 1..12;
- GroundTruth_pngs_Image<i>.zip: `Image<i>/Kernel<t>/GroundTruth<i>_<t>_<f>.png`, frames f = 1..n (unpadded).
The download stage unpacks each zip into a directory of its own name under the raw dir (BlurryImages/,
GroundTruth_pngs_Image<i>/).

Samples: 48 test samples {"gt", "lq", "meta"}, keyed `kohler/image<i>/kernel<tt>`: `lq` is the blurry photo as
recorded, `gt` the middle sharp frame of its trajectory (frame (n + 1) // 2 of the frames present, deepinv's
"middle"). The benchmark itself scores a result against every sharp frame of the trajectory, each after fitting
an intensity scale and a translation, and keeps the best match; storing ~199 frames per sample and aligning at
evaluation is not done here, so PSNR/SSIM against the middle frame are NOT the benchmark's numbers (typically
lower: the middle pose need not be the one a deblurred image matches best). meta records the frame used.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from components.data.native.image_set import read_rgb
from components.data.sources import Source
from components.errors import PixelpredError

BLURRY = Path("BlurryImages")
_BLURRY_NAME = re.compile(r"Blurry(\d+)_(\d+)\.png")


def sharp_frames(raw_dir: Path, printout: int, trajectory: int) -> dict[int, Path]:
    """(printout, trajectory) -> {frame number: sharp frame PNG} of the frames present."""
    folder = raw_dir / f"GroundTruth_pngs_Image{printout}" / f"Image{printout}" / f"Kernel{trajectory}"
    prefix = f"GroundTruth{printout}_{trajectory}_"
    return {int(path.stem[len(prefix):]): path for path in folder.glob(f"{prefix}*.png")
            if path.stem[len(prefix):].isdigit()}


def middle_frame(frames: dict[int, Path]) -> int:
    """Frame numbers present -> the middle one, (n + 1) // 2-th in order (frame 100 of 1..199)."""
    if not frames:
        raise ValueError("no sharp frames found for this trajectory")
    return sorted(frames)[(len(frames) + 1) // 2 - 1]


class Kohler(Source):
    name = "kohler"
    class_names = ("image",)   # no label classes: the target is the image itself
    splits = ("test",)

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        shots = sorted((tuple(int(n) for n in match.groups()), path) for path in (raw_dir / BLURRY).glob("*.png")
                       if (match := _BLURRY_NAME.fullmatch(path.name)))
        if not shots:
            raise PixelpredError(f"no Blurry<i>_<t>.png in {raw_dir / BLURRY} (is BlurryImages.zip unpacked? run "
                                 "the download stage)")
        if split not in self.splits:
            return
        for (printout, trajectory), blurry in shots:
            key = f"kohler/image{printout}/kernel{trajectory:02d}"
            try:
                frames = sharp_frames(raw_dir, printout, trajectory)
                frame = middle_frame(frames)
                lq, _ = read_rgb(blurry)
                gt, _ = read_rgb(frames[frame])
                if gt.shape != lq.shape:
                    raise ValueError(f"sharp frame {gt.shape[:2]} and blurry photo {lq.shape[:2]} differ in size")
            except Exception as err:  # any reader failure on a damaged file: skip it, the stage goes on
                yield key, err
                continue
            yield key, {"gt": gt, "lq": lq,
                        "meta": {"dataset": self.name, "split": split, "printout": printout, "trajectory": trajectory,
                                 "frame": frame, "frames": len(frames), "gt_choice": "middle frame",
                                 "source": [str(p.relative_to(raw_dir)) for p in (blurry, frames[frame])]}}


SOURCE = Kohler()
