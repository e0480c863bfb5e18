"""PASCAL VOC 2012 + SBD (semantic and instance segmentation, ch. 5): 20 object classes plus background.

- VOC 2012 (`VOCtrainval_11-May-2012/VOCdevkit/VOC2012`): JPEGImages/<id>.jpg; SegmentationClass/<id>.png and
  SegmentationObject/<id>.png, palette PNGs whose index is the class (0 = background) or the instance (1..N,
  0 = none), 255 = void (object borders, ambiguous regions); ImageSets/Segmentation/{train,val}.txt.
- SBD (`benchmark/benchmark_RELEASE/dataset`, Hariharan et al. 2011): img/<id>.jpg; cls/<id>.mat and inst/<id>.mat
  (MATLAB v5) holding the structs GTcls.Segmentation (class map) and GTinst.Segmentation (instance map, 0 = none);
  train.txt and val.txt (11,355 images, many of them also in VOC 2012).

Splits, as §5.5.1 ("PASCAL VOC 2012 dataset with additional instance mask annotations provided by [SBD]. This
provides 10,582 and 1,449 images for training and evaluation"): test = VOC 2012 val (1,449) with VOC's annotations;
the training pool is every SBD image (its train and val lists) and every VOC 2012 train image, minus every VOC 2012
val image (10,582 on the full data); our val holds out every 10th of that pool. An image that VOC annotates takes
VOC's annotation, the others SBD's. Void pixels are seg 255 and inst 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.io
from PIL import Image

from components.data.native import hold_out_val
from components.data.sources import Source
from components.errors import PixelpredError

VOC = Path("VOCtrainval_11-May-2012/VOCdevkit/VOC2012")
SBD = Path("benchmark/benchmark_RELEASE/dataset")
CLASS_NAMES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
VOID = 255
IMAGE_SETS = (VOC / "ImageSets/Segmentation/train.txt", VOC / "ImageSets/Segmentation/val.txt",
              SBD / "train.txt", SBD / "val.txt")


def read_ids(path: Path) -> set[str]:
    """Image set file (one id per line) -> its ids."""
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def split_ids(raw_dir: Path) -> tuple[dict[str, list[str]], set[str]]:
    """VOC and SBD image sets -> (sorted ids of our train / val / test splits (disjoint), ids that VOC annotates)."""
    voc_train, voc_val, sbd_train, sbd_val = (read_ids(raw_dir / image_set) for image_set in IMAGE_SETS)
    splits = {**hold_out_val(sorted((voc_train | sbd_train | sbd_val) - voc_val)), "test": sorted(voc_val)}
    return splits, voc_train | voc_val


def read_rgb(path: Path) -> np.ndarray:
    """JPEG -> uint8 H x W x 3, decoded now so that a truncated file fails here."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def read_indices(path: Path) -> np.ndarray:
    """VOC palette PNG -> its palette indices (not the colours), H x W uint8."""
    with Image.open(path) as image:
        if image.mode not in ("P", "L"):
            raise ValueError(f"{path.name}: mode {image.mode}, expected a palette PNG")
        return np.asarray(image)


def read_struct_map(path: Path, struct: str) -> np.ndarray:
    """SBD .mat -> the `Segmentation` map of its struct (GTcls or GTinst)."""
    return np.asarray(scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)[struct].Segmentation)


class VOCSBD(Source):
    name = "voc_sbd"
    class_names = CLASS_NAMES

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        for image_set in IMAGE_SETS:
            if not (raw_dir / image_set).is_file():
                raise PixelpredError(f"{raw_dir / image_set} is missing (is {image_set.parts[0]} unpacked? "
                                     "run the download stage)")
        splits, voc_annotated = split_ids(raw_dir)
        for image_id in splits[split]:
            key = f"voc_sbd/{image_id}"
            try:
                yield key, self._sample(raw_dir, split, image_id, image_id in voc_annotated)
            except Exception as err:  # any reader failure on a damaged file: skip it, the stage goes on
                yield key, err

    def _sample(self, raw_dir: Path, split: str, image_id: str, from_voc: bool) -> dict:
        """One image's VOC (or else SBD) files -> schema sample (raises on any unreadable or inconsistent file)."""
        if from_voc:
            files = [VOC / "JPEGImages" / f"{image_id}.jpg", VOC / "SegmentationClass" / f"{image_id}.png",
                     VOC / "SegmentationObject" / f"{image_id}.png"]
            classes, instances = read_indices(raw_dir / files[1]), read_indices(raw_dir / files[2])
        else:
            files = [SBD / "img" / f"{image_id}.jpg", SBD / "cls" / f"{image_id}.mat", SBD / "inst" / f"{image_id}.mat"]
            classes = read_struct_map(raw_dir / files[1], "GTcls")
            instances = read_struct_map(raw_dir / files[2], "GTinst")
        rgb = read_rgb(raw_dir / files[0])
        if classes.shape != rgb.shape[:2] or instances.shape != rgb.shape[:2]:
            raise ValueError(f"image {rgb.shape}, classes {classes.shape} and instances {instances.shape} differ")
        void = (classes == VOID) | (instances == VOID)
        if np.any(classes[~void] >= len(CLASS_NAMES)):
            raise ValueError(f"class index {classes[~void].max()} beyond the {len(CLASS_NAMES)} classes")
        return {"rgb": rgb, "seg": np.where(void, VOID, classes).astype(np.uint8),
                "inst": np.where(void, 0, instances).astype(np.uint16),
                "meta": {"dataset": self.name, "split": split, "annotation": "voc" if from_voc else "sbd",
                         "source": [path.as_posix() for path in files]}}


SOURCE = VOCSBD()
