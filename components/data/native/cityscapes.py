"""Cityscapes (seg, depth, instances; ch. 2-4): fine annotations, stereo disparity and camera calibration.

Each official zip is unpacked into a directory named after it; inside, files are
`<split>/<city>/<city>_<seq>_<frame>_<suffix>`:
- leftImg8bit: `_leftImg8bit.png`, 8-bit RGB.
- gtFine: `_gtFine_labelIds.png` (uint8 label id, 0..33) and `_gtFine_instanceIds.png` (16-bit: label id * 1000 +
  instance index for individually annotated objects, the bare label id elsewhere, e.g. for crowd groups).
- disparity: `_disparity.png`, 16-bit p; disparity d = (p - 1) / 256 pixels, p = 0 invalid.
- camera: `_camera.json` with extrinsic.baseline (metres) and intrinsic fx, fy, u0, v0 (pixels).

Splits: the official val (500, public labels) is what the thesis tests on (§2.3: "validation set (500 images) for
testing"), so it is our test; our train/val hold out every 10th official training image (2975). The official test
images have no public labels and are not used. Without the disparity or camera zip, samples carry no depth.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from components.data.native import hold_out_val
from components.data.sources import Source
from components.errors import PixelpredError

log = logging.getLogger(__name__)

IMAGES = Path("leftImg8bit_trainvaltest/leftImg8bit")
LABELS = Path("gtFine_trainvaltest/gtFine")
DISPARITY = Path("disparity_trainvaltest/disparity")
CAMERA = Path("camera_trainvaltest/camera")
OFFICIAL_SPLIT = {"train": "train", "val": "train", "test": "val"}

CLASS_NAMES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
               "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
# Label id (0..33) -> train id, from the label table of the official cityscapesScripts (helpers/labels.py):
# void and rarely annotated classes (parking, rail track, guard rail, bridge, tunnel, polegroup, caravan, trailer)
# are ignored (255); license plate (id -1) never appears in labelIds images.
TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
             24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
TRAIN_ID_LOOKUP = np.full(256, 255, dtype=np.uint8)
TRAIN_ID_LOOKUP[list(TRAIN_IDS)] = list(TRAIN_IDS.values())
# Label ids of the classes with instances that are also train classes (person, rider, car, truck, bus, train,
# motorcycle, bicycle); caravan and trailer have instances too but are ignored in seg, so they get none here.
INSTANCE_LABEL_IDS = (24, 25, 26, 27, 28, 31, 32, 33)


def read_png(path: Path, mode: str | None = None) -> np.ndarray:
    """PNG (converted to `mode` if given) -> its pixel array, decoded now so that a truncated file fails here."""
    with Image.open(path) as image:
        image.load()
        return np.asarray(image if mode is None else image.convert(mode))


def sequential_instances(instance_ids: np.ndarray) -> np.ndarray:
    """instanceIds map -> uint16 ids 1..N (in instanceId order) over train-class instances, 0 elsewhere."""
    instance_ids = instance_ids.astype(np.int64)
    is_instance = (instance_ids >= 1000) & np.isin(instance_ids // 1000, INSTANCE_LABEL_IDS)
    values, inverse = np.unique(np.where(is_instance, instance_ids, 0), return_inverse=True)
    # Value 0 (no instance) sorts first when present; shift so that the first real instance is 1 either way.
    ids = inverse.reshape(instance_ids.shape) + (0 if values[0] == 0 else 1)
    if ids.max() > np.iinfo(np.uint16).max:
        raise ValueError(f"{ids.max()} instances do not fit uint16")
    return ids.astype(np.uint16)


def depth_from_disparity(disparity_png: np.ndarray, baseline: float, fx: float) -> np.ndarray:
    """16-bit disparity PNG values -> float32 depth in metres (baseline * fx / d), 0 where invalid."""
    disparity = (disparity_png.astype(np.float64) - 1.0) / 256.0
    valid = disparity > 0  # p = 0 marks invalid; p = 1 is zero disparity, i.e. no finite depth either
    depth = np.zeros(disparity.shape, dtype=np.float64)
    depth[valid] = baseline * fx / disparity[valid]
    return depth.astype(np.float32)


class Cityscapes(Source):
    name = "cityscapes"
    class_names = CLASS_NAMES

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        official = OFFICIAL_SPLIT[split]
        for tree in (IMAGES, LABELS):
            if not (raw_dir / tree / official).is_dir():
                raise PixelpredError(f"{raw_dir / tree / official} is missing (is {tree.parts[0]}.zip unpacked? "
                                     "run the download stage)")
        with_depth = all((raw_dir / tree / official).is_dir() for tree in (DISPARITY, CAMERA))
        if not with_depth:
            log.info("cityscapes %s: no %s or %s, so samples carry no depth (seg and instances only)",
                     split, DISPARITY.parts[0], CAMERA.parts[0])
        # (frame stem, city) pairs, sorted by stem: the order of the keys.
        frames = sorted((path.name.removesuffix("_leftImg8bit.png"), path.parent.name)
                        for path in (raw_dir / IMAGES / official).glob("*/*_leftImg8bit.png"))
        if official == "train":
            frames = hold_out_val(frames)[split]
        for stem, city in frames:
            key = f"cityscapes/{stem}"
            try:
                yield key, self._sample(raw_dir, split, official, city, stem, with_depth)
            except Exception as err:  # any reader failure on a damaged file: skip it, the stage goes on
                yield key, err

    def _sample(self, raw_dir: Path, split: str, official: str, city: str, stem: str, with_depth: bool) -> dict:
        """One frame's native files -> schema sample (raises on any unreadable or inconsistent file)."""
        files = {"rgb": IMAGES / official / city / f"{stem}_leftImg8bit.png",
                 "labels": LABELS / official / city / f"{stem}_gtFine_labelIds.png",
                 "instances": LABELS / official / city / f"{stem}_gtFine_instanceIds.png"}
        if with_depth:
            files |= {"disparity": DISPARITY / official / city / f"{stem}_disparity.png",
                      "camera": CAMERA / official / city / f"{stem}_camera.json"}
        rgb = read_png(raw_dir / files["rgb"], "RGB")
        labels, instance_ids = read_png(raw_dir / files["labels"]), read_png(raw_dir / files["instances"])
        if labels.ndim != 2 or labels.shape != instance_ids.shape or labels.shape != rgb.shape[:2]:
            raise ValueError(f"image {rgb.shape}, labelIds {labels.shape} and instanceIds {instance_ids.shape} differ")
        sample = {"rgb": rgb, "seg": TRAIN_ID_LOOKUP[labels], "inst": sequential_instances(instance_ids)}
        meta = {"dataset": self.name, "split": split, "official_split": official, "city": city,
                "source": [path.as_posix() for path in files.values()]}
        if with_depth:
            camera = json.loads((raw_dir / files["camera"]).read_text())
            intrinsic, baseline = camera["intrinsic"], float(camera["extrinsic"]["baseline"])
            disparity = read_png(raw_dir / files["disparity"])
            if disparity.shape != labels.shape:
                raise ValueError(f"disparity {disparity.shape} and labelIds {labels.shape} differ in size")
            sample["depth"] = depth_from_disparity(disparity, baseline, float(intrinsic["fx"]))
            meta |= {"baseline": baseline, "intrinsics": {"fx": float(intrinsic["fx"]), "fy": float(intrinsic["fy"]),
                                                          "cx": float(intrinsic["u0"]), "cy": float(intrinsic["v0"])}}
        return sample | {"meta": meta}


SOURCE = Cityscapes()
