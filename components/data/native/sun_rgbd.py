"""SUN RGB-D (37-class seg, depth; ch. 2-3): 10,335 RGB-D frames from four sensors, with the official split.

SUNRGBD.zip holds `SUNRGBD/<sensor>/<source>/<frame>/` (e.g. kv1/NYUdata/NYU0001); unpacked into `<raw>/SUNRGBD/`,
that is `<raw>/SUNRGBD/SUNRGBD/kv1/...`. Each frame folder has image/<name>.jpg, depth_bfx/<name>.png (the
toolbox's refined depth), intrinsics.txt (the 3 x 3 K in pixels) and seg.mat. SUNRGBDtoolbox.zip holds
`SUNRGBDtoolbox/` (so `<raw>/SUNRGBDtoolbox/SUNRGBDtoolbox/`):
- Metadata/SUNRGBD2Dseg.mat (MATLAB v7.3, i.e. HDF5, read with h5py): the struct array SUNRGBD2Dseg whose
  seglabel(i) (stored transposed) is frame i's map over the 37 classes of seg37list (1..37, 0 = unlabeled). These
  are the official 37-class labels; the per-frame seg.mat only indexes that frame's free-text object names.
  Stored seg = class - 1, unlabeled -> 255.
- Metadata/SUNRGBDMeta.mat (MATLAB v5): SUNRGBDMeta(i) names frame i (rgbpath, rgbname, depthname), in the same
  order as SUNRGBD2Dseg.
- traintestSUNRGBD/allsplit.mat (MATLAB v5): alltrain (5285) and alltest (5050), frame folders as absolute paths
  on the authors' file system (/n/fs/sun3d/data/SUNRGBD/...); our val holds out every 10th training frame.
Paths in both .mat files are matched on the part after `SUNRGBD/`.

Depth, as the toolbox reads it (read3dPoints.m): the 16-bit PNG value rotated right by 3 bits, in millimetres,
capped at 8 m; 0 stays 0 (missing).
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np
import scipy.io
from PIL import Image

from components.data.native import hold_out_val
from components.data.native.nyuv2 import CLASS_NAMES as NYU40_CLASS_NAMES
from components.data.sources import Source
from components.errors import PixelpredError

DATA = Path("SUNRGBD/SUNRGBD")
TOOLBOX = Path("SUNRGBDtoolbox/SUNRGBDtoolbox")
META_FILE, SEG_FILE = TOOLBOX / "Metadata/SUNRGBDMeta.mat", TOOLBOX / "Metadata/SUNRGBD2Dseg.mat"
SPLIT_FILE = TOOLBOX / "traintestSUNRGBD/allsplit.mat"
# seg37list is the first 37 of the NYUv2 40 classes (Gupta et al. 2013), in the same order.
CLASS_NAMES = NYU40_CLASS_NAMES[:37]
MAX_DEPTH_M = 8.0


def frame_dir(path: str) -> str:
    """A frame folder or file path as the toolbox stores it -> the part after `SUNRGBD/` (no trailing slash)."""
    _, marker, relative = str(path).partition("SUNRGBD/")
    if not marker:
        raise PixelpredError(f"toolbox path {path!r} has no SUNRGBD/ component")
    return relative.strip("/")


def read_index(raw_dir: Path) -> dict[str, tuple[int, str, str]]:
    """SUNRGBDMeta.mat -> {frame folder: (position in SUNRGBD2Dseg, rgb file name, depth file name)}."""
    metas = scipy.io.loadmat(raw_dir / META_FILE, squeeze_me=True, struct_as_record=False,
                             variable_names=["SUNRGBDMeta"])["SUNRGBDMeta"]
    return {str(PurePosixPath(frame_dir(meta.rgbpath)).parent.parent): (i, str(meta.rgbname), str(meta.depthname))
            for i, meta in enumerate(np.atleast_1d(metas))}


def split_frames(raw_dir: Path) -> dict[str, list[str]]:
    """allsplit.mat -> sorted frame folders of our train / val / test splits."""
    split = scipy.io.loadmat(raw_dir / SPLIT_FILE, squeeze_me=True, variable_names=["alltrain", "alltest"])
    train, test = (sorted(frame_dir(path) for path in np.atleast_1d(split[name])) for name in ("alltrain", "alltest"))
    return {**hold_out_val(train), "test": test}


def read_depth(path: Path) -> np.ndarray:
    """depth_bfx PNG -> float32 metres (16-bit value rotated right by 3 bits, / 1000, capped at 8 m), 0 = missing."""
    with Image.open(path) as image:
        raw = np.asarray(image)
    if raw.ndim != 2 or raw.min(initial=0) < 0 or raw.max(initial=0) > 0xFFFF:
        raise ValueError(f"{path.name}: expected a 16-bit greyscale PNG, got {raw.dtype} {raw.shape}")
    value = raw.astype(np.uint16)
    millimetres = (value >> 3) | (value << 13)   # uint16 arithmetic drops the bits shifted out, as bitshift does
    return np.minimum(millimetres.astype(np.float32) / 1000.0, MAX_DEPTH_M)


def read_intrinsics(path: Path) -> dict[str, float]:
    """intrinsics.txt (the 3 x 3 K, row by row) -> {fx, fy, cx, cy} in pixels."""
    k = np.loadtxt(path).reshape(3, 3)
    return {"fx": float(k[0, 0]), "fy": float(k[1, 1]), "cx": float(k[0, 2]), "cy": float(k[1, 2])}


class SUNRGBD(Source):
    name = "sun_rgbd"
    class_names = CLASS_NAMES

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        import h5py

        if not (raw_dir / DATA).is_dir():
            raise PixelpredError(f"{raw_dir / DATA} is missing (is SUNRGBD.zip unpacked? run the download stage)")
        missing = [str(path) for path in (META_FILE, SEG_FILE, SPLIT_FILE) if not (raw_dir / path).is_file()]
        if missing:
            raise PixelpredError(f"{raw_dir}: missing {', '.join(missing)} (is SUNRGBDtoolbox.zip unpacked? "
                                 "run the download stage)")
        index, frames = read_index(raw_dir), split_frames(raw_dir)[split]
        with h5py.File(raw_dir / SEG_FILE, "r") as seg_file:
            seglabels = seg_file["SUNRGBD2Dseg"]["seglabel"]
            for frame in frames:
                key = "sun_rgbd/" + re.sub(r"[^A-Za-z0-9_/-]", "-", frame)   # keys allow no dots
                try:
                    position, rgb_name, depth_name = index[frame]
                    label = np.asarray(seg_file[seglabels[position][0]]).T
                    yield key, self._sample(raw_dir, split, frame, rgb_name, depth_name, label)
                except Exception as err:  # any reader failure on a damaged frame: skip it, the stage goes on
                    yield key, err

    def _sample(self, raw_dir: Path, split: str, frame: str, rgb_name: str, depth_name: str,
                label: np.ndarray) -> dict:
        """One frame's files and its 37-class map -> schema sample (raises on anything unreadable or inconsistent)."""
        files = [DATA / frame / "image" / rgb_name, DATA / frame / "depth_bfx" / depth_name,
                 DATA / frame / "intrinsics.txt"]
        with Image.open(raw_dir / files[0]) as image:
            rgb = np.asarray(image.convert("RGB"))
        depth = read_depth(raw_dir / files[1])
        if label.shape != rgb.shape[:2] or depth.shape != rgb.shape[:2]:
            raise ValueError(f"image {rgb.shape}, depth {depth.shape} and labels {label.shape} differ in size")
        if label.min(initial=0) < 0 or label.max(initial=0) > len(CLASS_NAMES):
            raise ValueError(f"label {int(label.max())} beyond the {len(CLASS_NAMES)} classes of seg37list")
        seg = np.where(label >= 1, label - 1, 255).astype(np.uint8)
        return {"rgb": rgb, "depth": depth, "seg": seg,
                "meta": {"dataset": self.name, "split": split, "frame": frame, "sensor": frame.split("/")[0],
                         "intrinsics": read_intrinsics(raw_dir / files[2]),
                         "source": [path.as_posix() for path in files] + [SEG_FILE.as_posix()]}}


SOURCE = SUNRGBD()
