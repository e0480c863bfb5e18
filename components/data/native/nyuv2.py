"""NYUv2 labeled subset (seg, depth, normals; ch. 2-4): 1449 RGB-D frames, 640 x 480.

- `nyu_depth_v2_labeled.mat` is MATLAB v7.3, i.e. HDF5 (read with h5py), whose arrays are stored transposed:
  images (N, 3, W, H) uint8, depths (N, W, H) float32 metres (the toolbox's in-painted depth), labels (N, W, H)
  uint16 over 894 object classes (0 = unlabeled).
- `splits.mat` (MATLAB v5): trainNdxs (795) and testNdxs (654), 1-based frame numbers.
- `classMapping40.mat` (Gupta et al. 2013): mapClass, the 40-class id (1..40) of every one of the 894 labels,
  and className. Stored seg = class id - 1 (0..39), unlabeled -> 255.
- Normals: from the depth by local least-squares plane fitting (§2.3.1, components/data/depth_normals.py) with
  the Kinect RGB intrinsics of the NYU toolbox (camera_params.m). The fit is ~1 s per frame, over 90% of the
  conversion, so it runs in a process pool (one process per core), a few frames per core at a time.
"""
from __future__ import annotations

import itertools
import os
from multiprocessing import Pool
from pathlib import Path
from typing import Iterator

import numpy as np
import scipy.io

from components.data.depth_normals import normals_from_depth
from components.data.native import hold_out_val
from components.data.sources import Source
from components.errors import PixelpredError

LABELED, SPLITS_FILE, MAPPING_FILE = "nyu_depth_v2_labeled.mat", "splits.mat", "classMapping40.mat"
# RGB camera of the NYU Depth V2 toolbox (camera_params.m), in pixels of the 640 x 480 frames.
INTRINSICS = {"fx": 518.8579, "fy": 519.4696, "cx": 325.5824, "cy": 253.7362}
CLASS_NAMES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
    "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat", "clothes",
    "ceiling", "books", "refrigerator", "television", "paper", "towel", "shower curtain", "box", "whiteboard",
    "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure", "otherfurniture",
    "otherprop")


def split_frames(raw_dir: Path) -> dict[str, list[int]]:
    """splits.mat -> 0-based frame indices of our train / val / test splits."""
    splits = scipy.io.loadmat(raw_dir / SPLITS_FILE)
    train = sorted(int(i) - 1 for i in splits["trainNdxs"].ravel())
    return {**hold_out_val(train), "test": sorted(int(i) - 1 for i in splits["testNdxs"].ravel())}


def label_lookup(raw_dir: Path) -> np.ndarray:
    """classMapping40.mat -> uint8 table: 894-class label (0 = unlabeled) -> stored seg id (0..39, 255)."""
    map_class = scipy.io.loadmat(raw_dir / MAPPING_FILE)["mapClass"].ravel().astype(np.int64)
    lookup = np.full(len(map_class) + 1, 255, dtype=np.uint8)
    lookup[1:] = np.where(map_class >= 1, map_class - 1, 255)
    return lookup


FRAMES_PER_PROCESS = 4     # frames read ahead per process: bounds memory (~3 MB per frame) and keeps all busy


def with_normals(sample: dict) -> dict:
    """A sample with depth -> the same sample with its normals (the costly step, run in the pool)."""
    return {**sample, "normal": normals_from_depth(sample["depth"], **INTRINSICS)}


class NYUv2(Source):
    name = "nyuv2"
    class_names = CLASS_NAMES

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        missing = [name for name in (LABELED, SPLITS_FILE, MAPPING_FILE) if not (raw_dir / name).is_file()]
        if missing:
            raise PixelpredError(f"{raw_dir}: missing {', '.join(missing)} (run the download stage)")
        frames = self.read_frames(raw_dir, split)
        processes = len(os.sched_getaffinity(0))
        with Pool(processes) as pool:
            while batch := list(itertools.islice(frames, FRAMES_PER_PROCESS * processes)):
                finished = iter(pool.map(with_normals, [s for _, s in batch if not isinstance(s, Exception)]))
                yield from ((key, sample if isinstance(sample, Exception) else next(finished)) for key, sample in batch)

    def read_frames(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        """The split's frames in order -> (key, sample without normals), or (key, error) for a damaged frame."""
        import h5py

        frames, lookup = split_frames(raw_dir)[split], label_lookup(raw_dir)
        with h5py.File(raw_dir / LABELED, "r") as mat:
            images, depths, labels = mat["images"], mat["depths"], mat["labels"]
            for frame in frames:
                key = f"nyuv2/{frame + 1:04d}"       # the dataset's own 1-based frame number
                try:
                    rgb = np.ascontiguousarray(images[frame].transpose(2, 1, 0))
                    depth = np.ascontiguousarray(depths[frame].T, dtype=np.float32)
                    label = np.asarray(labels[frame].T)
                    if label.max(initial=0) >= len(lookup):
                        raise ValueError(f"label {label.max()} beyond the 894 classes of {MAPPING_FILE}")
                except Exception as err:  # any reader failure on a damaged frame: skip it, the stage goes on
                    yield key, err
                    continue
                yield key, {"rgb": rgb, "depth": depth, "seg": lookup[label],
                            "meta": {"dataset": self.name, "split": split, "frame": frame + 1,
                                     "source": LABELED, "intrinsics": INTRINSICS}}


SOURCE = NYUv2()
