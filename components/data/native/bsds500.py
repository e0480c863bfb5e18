"""BSDS500 (boundaries, ch. 2): images/<split>/<id>.jpg and groundTruth/<split>/<id>.mat, every annotator kept.

Each groundTruth .mat (MATLAB v5) holds a cell array `groundTruth` of one struct per annotator, with the
annotator's `Segmentation` (region ids) and `Boundaries` (logical H x W). The official splits are used as
they are: 200 train, 100 val, 200 test.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.io
from PIL import Image

from components.data.sources import Source
from components.errors import PixelpredError

DATA_DIR = Path("BSR_bsds500/BSR/BSDS500/data")


def read_annotators(path: Path) -> np.ndarray:
    """groundTruth .mat -> uint8 K x H x W boundary maps, one per annotator."""
    annotations = np.atleast_1d(scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["groundTruth"])
    return np.stack([np.asarray(a.Boundaries, dtype=bool) for a in annotations]).astype(np.uint8)


class BSDS500(Source):
    name = "bsds500"
    class_names = ("boundary",)

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        images, truths = raw_dir / DATA_DIR / "images" / split, raw_dir / DATA_DIR / "groundTruth" / split
        if not truths.is_dir():
            raise PixelpredError(f"{truths} is missing (is BSR_bsds500.tgz unpacked? run the download stage)")
        for mat in sorted(truths.glob("*.mat")):
            key, image = f"bsds500/{mat.stem}", images / f"{mat.stem}.jpg"
            try:
                edge = read_annotators(mat)
                with Image.open(image) as img:
                    rgb = np.asarray(img.convert("RGB"))
                if rgb.shape[:2] != edge.shape[1:]:
                    raise ValueError(f"image {rgb.shape[:2]} and annotations {edge.shape[1:]} differ in size")
            except Exception as err:  # any reader failure on a damaged file: skip it, the stage goes on
                yield key, err
                continue
            yield key, {"rgb": rgb, "edge": edge,
                        "meta": {"dataset": self.name, "split": split, "annotators": int(edge.shape[0]),
                                 "source": [str(p.relative_to(raw_dir)) for p in (image, mat)]}}


SOURCE = BSDS500()
