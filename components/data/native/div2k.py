"""DIV2K (Agustsson and Timofte 2017; the SR training images of §6.4.1): 2K-resolution RGB PNGs.

DIV2K_train_HR.zip holds `DIV2K_train_HR/0001.png` ... `0800.png`, DIV2K_valid_HR.zip `DIV2K_valid_HR/0801.png`
... `0900.png`; the download stage unpacks each into a directory of its own name, so the images are
`<raw>/DIV2K_train_HR/DIV2K_train_HR/*.png` and `<raw>/DIV2K_valid_HR/DIV2K_valid_HR/*.png`. Samples are
{"rgb", "meta"}, keyed `div2k/<number>`. Splits: the 800 official training images give our train and val
(every 10th, native.hold_out_val); the 100 official validation images (whose HR images are public, unlike the
test images') are our test.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from components.data.native import hold_out_val
from components.data.native.image_set import image_samples
from components.data.sources import Source
from components.errors import PixelpredError

TRAIN = Path("DIV2K_train_HR/DIV2K_train_HR")
VALID = Path("DIV2K_valid_HR/DIV2K_valid_HR")


def split_files(raw_dir: Path) -> dict[str, list[Path]]:
    """Raw dir -> the sorted PNG paths of our train / val / test splits."""
    official = {name: sorted((raw_dir / folder).glob("*.png")) for name, folder in (("train", TRAIN), ("valid", VALID))}
    for name, folder in (("train", TRAIN), ("valid", VALID)):
        if not official[name]:
            raise PixelpredError(f"no PNGs in {raw_dir / folder} (is DIV2K_{name}_HR.zip unpacked? run the download "
                                 "stage)")
    return {**hold_out_val(official["train"]), "test": official["valid"]}


class DIV2K(Source):
    name = "div2k"
    class_names = ("image",)   # no label classes: the target is the image itself

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        yield from image_samples(self.name, raw_dir, split_files(raw_dir)[split], split)


SOURCE = DIV2K()
