"""DAVIS 2017 semi-supervised, 480p (ch. 7: tracking): `DAVIS/JPEGImages/480p/<seq>/NNNNN.jpg` and
`DAVIS/Annotations/480p/<seq>/NNNNN.png`, indexed-palette PNGs whose palette index is the object id (0:
background; several objects per sequence). The official lists `DAVIS/ImageSets/2017/{train,val}.txt` give 60
and 30 sequences: val is our test split (the thesis's Table 7.1), train gives train and val (every VAL_EVERY-th
sequence). Void (255, object borders in some annotations) becomes background, as the official semi-supervised
evaluation does. No flow.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from components.config import RealVideoConfig
from components.data.native import hold_out_val
from components.data.native.frames import FrameClip, clip_key
from components.data.video import VideoSource
from components.errors import PixelpredError

ROOT = Path("DAVIS-2017-trainval-480p/DAVIS")
VOID = 255


def read_objects(path: Path) -> np.ndarray:
    """Indexed-palette annotation -> H x W object ids (uint8 palette indices, void as 0)."""
    with Image.open(path) as image:
        if image.mode != "P":
            raise PixelpredError(f"{path}: a DAVIS annotation is an indexed-palette PNG, got mode {image.mode}")
        ids = np.asarray(image)
    return np.where(ids == VOID, 0, ids)


class DAVIS2017(VideoSource):
    name = "davis2017"

    def sequences(self, raw_dir: Path) -> dict[str, list[str]]:
        lists = raw_dir / ROOT / "ImageSets" / "2017"
        if not lists.is_dir():
            raise PixelpredError(f"{lists} is missing (is DAVIS-2017-trainval-480p.zip unpacked? run the download stage)")
        official = {name: sorted(line.strip() for line in (lists / f"{name}.txt").read_text().splitlines() if line.strip())
                    for name in ("train", "val")}
        return {**hold_out_val(official["train"]), "test": official["val"]}

    def clips(self, raw_dir: Path, split: str, config: RealVideoConfig) -> Iterator[tuple[str, FrameClip]]:
        root = raw_dir / ROOT
        for sequence in self.sequences(raw_dir)[split]:
            frames = tuple(sorted((root / "JPEGImages" / "480p" / sequence).glob("*.jpg")))
            annotations = root / "Annotations" / "480p" / sequence
            if not frames:
                raise PixelpredError(f"{root / 'JPEGImages' / '480p' / sequence}: no frames")
            yield clip_key(self.name, sequence), FrameClip(
                frames, (config.height, config.width),
                read_masks=lambda t, frames=frames, annotations=annotations: read_objects(annotations / f"{frames[t].stem}.png"))


SOURCE = DAVIS2017()
