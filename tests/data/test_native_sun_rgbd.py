"""SUN RGB-D converter on a miniature SUNRGBD.zip and SUNRGBDtoolbox.zip in the real layouts: frame folders of four
sensors (image/*.jpg, depth_bfx/*.png with the toolbox's bit-rotated millimetres, intrinsics.txt), the v7.3 (HDF5)
SUNRGBD2Dseg.mat with transposed seglabel maps reached through object references, the v5 SUNRGBDMeta.mat naming
each frame by the authors' absolute paths, and the v5 allsplit.mat.

Proven: SUNRGBD2Dseg entry i labels the frame SUNRGBDMeta(i) names (whatever the order of the frames); classes
1..37 become 0..36 and unlabeled 0 becomes 255; depth is the 16-bit value rotated right by 3 bits in millimetres
(a known pixel in metres), capped at 8 m, 0 missing; intrinsics come from intrinsics.txt; frames of different
sizes keep their size; alltrain / alltest are the splits, every 10th training frame our val; a corrupt JPEG or a
label beyond 37 yields (key, error) and the rest still come; missing toolbox files or frame tree are one clear
error; every sample encodes with the schema; and the two zips, fetched from a loopback server under the
registry's names and unpack dirs, convert through the prepare stage.
"""
from __future__ import annotations

import io
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from PIL import Image

from components.config import DownloadConfig, StorageConfig
from components.data import registry
from components.data.native.sun_rgbd import SOURCE
from components.data.schema import encode_sample
from components.data.shards import load_split
from components.errors import PixelpredError
from pipelines.cli import main
from tests.conftest import TINY_PARAMS, write_params
from tests.services import FileServer

PREFIX = "/n/fs/sun3d/data/SUNRGBD"     # how the toolbox's .mat files spell every path
TRAIN = ["kv1/NYUdata/NYU0001", "kv1/NYUdata/NYU0002", "kv1/b3dodata/img_0063",
         "kv2/kinect2data/000065_2014-05-16_20-14-38_260595134347_rgbf000121-resize",
         "kv2/align_kv2/2014-12-16_14-18-03_260595134347", "realsense/lg/2014_10_24-13_51_09-1311000073",
         "realsense/sa/2014_10_21-17_43_18-1311000073", "xtion/sun3ddata/mit_76_studyroom/76-1studyroom2",
         "xtion/xtion_align_data/2014_12_12-15_43_32-1311000073", "kv1/NYUdata/NYU0003"]
TEST = ["kv1/NYUdata/NYU1001", "kv2/kinect2data/000002_2014-05-26_14-23-37_260595134347_rgbf000103-resize",
        "realsense/shr/2014_11_04-12_41_37-1311000073"]
SIZES = {"kv1": (12, 16), "kv2": (10, 14), "realsense": (9, 12), "xtion": (12, 16)}
K = np.array([[529.5, 0.0, 365.0], [0.0, 529.5, 265.0], [0.0, 0.0, 1.0]])
CORRUPT_JPEG, BAD_LABEL = "realsense/sa/2014_10_21-17_43_18-1311000073", "kv1/NYUdata/NYU0002"


def frame_size(frame: str) -> tuple[int, int]:
    return SIZES[frame.split("/")[0]]


def label_map(position: int, frame: str) -> np.ndarray:
    """Frame's 37-class map: unlabeled border, the wall (1) left, class 2 + position right, bag (37) at (2, 2)."""
    height, width = frame_size(frame)
    label = np.zeros((height, width))
    label[1:-1, 1:width // 2] = 1
    label[1:-1, width // 2:-1] = 2 + position
    label[2, 2] = 37
    return label


def millimetres(frame: str) -> np.ndarray:
    """Depth in mm: 2345 everywhere, 9000 (beyond the 8 m cap) at (1, 1), 0 (missing) at (0, 0)."""
    depth = np.full(frame_size(frame), 2345, np.uint16)
    depth[1, 1], depth[0, 0] = 9000, 0
    return depth


def depth_png_values(mm: np.ndarray) -> np.ndarray:
    """Millimetres -> the 16-bit values SUN RGB-D stores: rotated left by 3 bits."""
    return (mm << 3) | (mm >> 13)


def write_v73(path: Path, labels: list[np.ndarray]) -> None:
    """SUNRGBD2Dseg.mat as MATLAB -v7.3 writes it: HDF5 behind a 512-byte MATLAB header, the struct's seglabel
    field a (N, 1) dataset of references to the transposed maps in #refs#."""
    with h5py.File(path, "w", userblock_size=512) as mat:
        refs = mat.create_group("#refs#")
        targets = [refs.create_dataset(f"s{i}", data=label.T) for i, label in enumerate(labels)]
        seglabel = mat.create_group("SUNRGBD2Dseg").create_dataset("seglabel", (len(labels), 1),
                                                                   dtype=h5py.ref_dtype)
        for i, target in enumerate(targets):
            seglabel[i, 0] = target.ref
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jun  1 12:00:00 2015 HDF5 schema 1.00 ."
    with path.open("r+b") as file:
        file.write(header.ljust(124) + b"\x00\x02IM")


def build_raw(raw: Path) -> None:
    rng = np.random.default_rng(0)
    frames = TRAIN + TEST
    order = [frames[i] for i in rng.permutation(len(frames))]   # SUNRGBDMeta's order is not the sorted one
    for frame in frames:
        folder, name = raw / "SUNRGBD/SUNRGBD" / frame, frame.rsplit("/", 1)[1]
        for sub in ("image", "depth_bfx", "depth"):
            (folder / sub).mkdir(parents=True)
        height, width = frame_size(frame)
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(folder / f"image/{name}.jpg")
        Image.fromarray(depth_png_values(millimetres(frame))).save(folder / f"depth_bfx/{name}.png")
        Image.fromarray(depth_png_values(millimetres(frame))).save(folder / f"depth/{name}.png")
        np.savetxt(folder / "intrinsics.txt", K, fmt="%.6f")
    (raw / f"SUNRGBD/SUNRGBD/{CORRUPT_JPEG}/image/{CORRUPT_JPEG.rsplit('/', 1)[1]}.jpg").write_bytes(b"\xff\xd8 cut")
    toolbox = raw / "SUNRGBDtoolbox/SUNRGBDtoolbox"
    (toolbox / "Metadata").mkdir(parents=True)
    (toolbox / "traintestSUNRGBD").mkdir()
    metas = np.zeros((1, len(order)), dtype=[(field, object) for field in
                                             ("sequenceName", "rgbpath", "depthpath", "rgbname", "depthname")])
    for i, frame in enumerate(order):
        name = frame.rsplit("/", 1)[1]
        metas[0, i] = (f"SUNRGBD/{frame}", f"{PREFIX}/{frame}/image/{name}.jpg", f"{PREFIX}/{frame}/depth/{name}.png",
                       f"{name}.jpg", f"{name}.png")
    scipy.io.savemat(toolbox / "Metadata/SUNRGBDMeta.mat", {"SUNRGBDMeta": metas})
    labels = [label_map(i, frame) for i, frame in enumerate(order)]
    labels[order.index(BAD_LABEL)][3, 3] = 38
    write_v73(toolbox / "Metadata/SUNRGBD2Dseg.mat", labels)
    cells = {name: np.array([f"{PREFIX}/{frame}" for frame in split], dtype=object)[None]
             for name, split in (("alltrain", TRAIN), ("alltest", TEST))}
    scipy.io.savemat(toolbox / "traintestSUNRGBD/allsplit.mat", {**cells, "trainvalsplit": {
        "train": cells["alltrain"][:, :5], "val": cells["alltrain"][:, 5:]}})


def meta_position(raw: Path, frame: str) -> int:
    metas = scipy.io.loadmat(raw / "SUNRGBDtoolbox/SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat")["SUNRGBDMeta"][0]
    return [str(m["rgbpath"][0]) for m in metas].index(f"{PREFIX}/{frame}/image/{frame.rsplit('/', 1)[1]}.jpg")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sun") / "raw"
    build_raw(root)
    return root


@pytest.fixture(scope="module")
def results(raw) -> dict[str, dict[str, dict | Exception]]:
    return {split: dict(SOURCE.samples(raw, split)) for split in ("train", "val", "test")}


def test_fixture_files_match_the_real_formats(raw):
    seg = raw / "SUNRGBDtoolbox/SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat"
    assert seg.read_bytes()[:10] == b"MATLAB 7.3" and h5py.is_hdf5(seg)
    with Image.open(raw / "SUNRGBD/SUNRGBD/kv1/NYUdata/NYU0001/depth_bfx/NYU0001.png") as image:
        assert image.mode == "I;16" and np.asarray(image)[5, 5] == 18760   # 2345 mm rotated left by 3 bits


def test_values(raw, results):
    frame = "kv2/kinect2data/000002_2014-05-26_14-23-37_260595134347_rgbf000103-resize"
    sample = results["test"][f"sun_rgbd/{frame}"]
    height, width = frame_size(frame)
    assert sample["rgb"].shape == (height, width, 3) and sample["seg"].shape == (height, width)
    position = meta_position(raw, frame)
    assert sample["seg"][0, 0] == 255 and sample["seg"][5, 2] == 0 and sample["seg"][2, 2] == 36
    assert sample["seg"][5, width - 2] == 1 + position      # the class only this frame's SUNRGBD2Dseg entry has
    depth = sample["depth"]
    assert depth.dtype == np.float32 and depth[5, 5] == pytest.approx(2.345) and depth[1, 1] == 8.0
    assert depth[0, 0] == 0
    meta = sample["meta"]
    assert meta["intrinsics"] == {"fx": 529.5, "fy": 529.5, "cx": 365.0, "cy": 265.0}
    assert meta["frame"] == frame and meta["sensor"] == "kv2" and meta["split"] == "test"
    assert f"SUNRGBD/SUNRGBD/{frame}/depth_bfx/000002_2014-05-26_14-23-37_260595134347_rgbf000103-resize.png" \
        in meta["source"]


def test_splits_corrupt_frames_and_schema(results):
    keys = {split: list(items) for split, items in results.items()}
    assert keys["test"] == [f"sun_rgbd/{frame}" for frame in sorted(TEST)]
    assert keys["val"] == [f"sun_rgbd/{sorted(TRAIN)[9]}"]
    assert keys["train"] == [f"sun_rgbd/{frame}" for frame in sorted(TRAIN)[:9]]
    errors = {key: str(sample) for items in results.values() for key, sample in items.items()
              if isinstance(sample, Exception)}
    assert set(errors) == {f"sun_rgbd/{CORRUPT_JPEG}", f"sun_rgbd/{BAD_LABEL}"}
    assert "label 38 beyond the 37 classes" in errors[f"sun_rgbd/{BAD_LABEL}"]
    for split, items in results.items():
        for key, sample in items.items():
            if isinstance(sample, Exception):
                continue
            assert set(sample) == {"rgb", "depth", "seg", "meta"} and sample["meta"]["split"] == split
            assert set(encode_sample(key, sample)) == {"__key__", "rgb.png", "depth.npy", "seg.png", "json"}


def test_missing_toolbox_or_frames(raw, tmp_path):
    copy = tmp_path / "raw"
    shutil.copytree(raw, copy)
    (copy / "SUNRGBDtoolbox/SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat").unlink()
    with pytest.raises(PixelpredError, match="missing SUNRGBDtoolbox/SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat"):
        next(SOURCE.samples(copy, "train"))
    shutil.rmtree(copy / "SUNRGBD")
    with pytest.raises(PixelpredError, match="SUNRGBD/SUNRGBD is missing"):
        next(SOURCE.samples(copy, "test"))


def zip_folder(folder: Path) -> bytes:
    """Every file under `folder`, named relative to it (so the archive's top level is folder's content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def test_registry_zips_fetched_and_prepared(raw, tmp_path):
    archives = {"SUNRGBD.zip": zip_folder(raw / "SUNRGBD"), "SUNRGBDtoolbox.zip": zip_folder(raw / "SUNRGBDtoolbox")}
    entry = registry.entry("sun_rgbd")
    with FileServer(archives) as server:
        # The registry's names and unpack dirs; the miniature zips have their own bytes, so no published md5.
        files = tuple(replace(f, urls=(server.url(f.name),), md5="", checksum_source="") for f in entry.files)
        registry.fetch(replace(entry, files=files), tmp_path / "raw", tmp_path / "lock.json",
                       DownloadConfig(attempts=2, backoff_s=0.0, timeout_s=5.0), StorageConfig())
    params = write_params(tmp_path, TINY_PARAMS)
    assert main(["--params", str(params), "prepare", "--dataset", "sun_rgbd", "--raw", str(tmp_path / "raw"),
                 "--out", str(tmp_path / "shards")]) == 0
    test = {s["__key__"]: s for s in load_split(tmp_path / "shards", "test", required=("rgb", "depth", "seg"))}
    assert set(test) == {f"sun_rgbd/{frame}" for frame in TEST}
    assert test["sun_rgbd/kv1/NYUdata/NYU1001"]["depth"][5, 5] == pytest.approx(2.345)
