"""Plain image sets (restoration evaluation, ch. 6): a folder of clean images and nothing else.

Each image matching the set's glob (relative to the raw dir) is one sample {"rgb", "meta"} of the test split,
keyed `<set>/<file stem>` in sorted file order; grey or palette images are converted to RGB (the stored `rgb`
is always uint8 H x W x 3) and meta records the file and its original PIL mode. These sets have no train or
val split: the degrade stage (`--test-images`) makes every degraded test set from their test split.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from components.data.sources import Source
from components.errors import PixelpredError

_NOT_KEY = re.compile(r"[^A-Za-z0-9_\-]")   # sample keys allow no dots, spaces or other punctuation


def read_rgb(path: Path) -> tuple[np.ndarray, str]:
    """Image file -> (uint8 H x W x 3, its PIL mode), decoded now so that a truncated file fails here."""
    with Image.open(path) as image:
        image.load()
        return np.asarray(image.convert("RGB")), image.mode


def image_samples(dataset: str, raw_dir: Path, paths: list[Path],
                  split: str) -> Iterator[tuple[str, dict | Exception]]:
    """Image files of one split -> (<dataset>/<stem>, {rgb, meta}), or (key, error) for an unreadable file."""
    for path in paths:
        key = f"{dataset}/{_NOT_KEY.sub('_', path.stem)}"
        try:
            rgb, mode = read_rgb(path)
        except Exception as err:  # any reader failure on a damaged file: skip it, the stage goes on
            yield key, err
            continue
        yield key, {"rgb": rgb, "meta": {"dataset": dataset, "split": split, "mode": mode,
                                         "source": str(path.relative_to(raw_dir))}}


class ImageSet(Source):
    """A test-only set of clean images: every file matching `pattern` under the raw dir, in sorted order."""
    class_names = ("image",)   # no label classes: the target is the image itself
    splits = ("test",)

    def __init__(self, name: str, pattern: str, archive: str) -> None:
        self.name, self.pattern, self.archive = name, pattern, archive

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        files = sorted(raw_dir.glob(self.pattern))
        if not files:
            raise PixelpredError(f"no {self.pattern} under {raw_dir} (is {self.archive} unpacked? run the download "
                                 "stage)")
        if split in self.splits:
            yield from image_samples(self.name, raw_dir, files, split)
