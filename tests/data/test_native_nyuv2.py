"""NYUv2 end to end, offline: a miniature nyu_depth_v2_labeled.mat (HDF5 with MATLAB v7.3's transposed array
order), splits.mat (v5, 1-based) and classMapping40.mat, served from a moto S3 mirror, fetched, converted by
the prepare stage and read back from the shards.

Proven: rgb/depth/labels come out in H x W order (a known depth pixel in metres, a known pixel colour); the
894 -> 40 class mapping (a known label becomes its class id - 1, unlabeled becomes 255); the official
1-based splits with every 10th training frame held out as val; normals from a planar depth map face the
camera along the plane's normal; the files never touched the (unreachable) public URLs.
"""
from __future__ import annotations

import io
from dataclasses import replace

import boto3
import h5py
import numpy as np
import scipy.io

from components.config import DownloadConfig
from components.data import registry
from components.data.shards import load_split
from pipelines.cli import main
from tests.conftest import TINY_PARAMS, write_params

FRAMES, HEIGHT, WIDTH = 14, 24, 32
TRAIN, TEST = list(range(1, 11)), list(range(11, 15))      # 1-based, as splits.mat stores them


def miniature(rng: np.random.Generator) -> tuple[dict[str, bytes], dict]:
    images = rng.integers(0, 255, (FRAMES, 3, WIDTH, HEIGHT), dtype=np.uint8)          # stored transposed
    labels = rng.integers(0, 895, (FRAMES, WIDTH, HEIGHT), dtype=np.uint16)
    depths = rng.uniform(0.5, 9.0, (FRAMES, WIDTH, HEIGHT)).astype(np.float32)
    wall = np.array([0.0, 0.0, -1.0])
    depths[0] = np.full((HEIGHT, WIDTH), 2.5, np.float32).T                           # frame 1: a wall 2.5 m ahead
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as mat:
        mat["images"], mat["depths"], mat["labels"] = images, depths, labels
    splits, mapping = io.BytesIO(), io.BytesIO()
    scipy.io.savemat(splits, {"trainNdxs": np.array(TRAIN)[:, None], "testNdxs": np.array(TEST)[:, None]})
    map_class = rng.integers(1, 41, (1, 894))
    scipy.io.savemat(mapping, {"mapClass": map_class})
    files = {"nyu_depth_v2_labeled.mat": buffer.getvalue(), "splits.mat": splits.getvalue(),
             "classMapping40.mat": mapping.getvalue()}
    return files, {"images": images, "depths": depths, "labels": labels, "map_class": map_class.ravel(), "wall": wall}


def test_nyuv2_files_from_an_s3_mirror_to_shards(tmp_path, s3_bucket):
    storage, bucket = s3_bucket
    files, truth = miniature(np.random.default_rng(0))
    s3 = boto3.client("s3", endpoint_url=storage.endpoint_url, region_name="us-east-1")
    for name, data in files.items():
        s3.put_object(Bucket=bucket, Key=f"mirror/nyuv2/{name}", Body=data)
    entry = registry.entry("nyuv2")
    unreachable = tuple(replace(f, urls=("http://127.0.0.1:9/offline",)) for f in entry.files)
    download = DownloadConfig(mirror=f"s3://{bucket}/mirror", attempts=1, backoff_s=0.0)
    registry.fetch(replace(entry, files=unreachable), tmp_path / "raw", tmp_path / "lock.json", download, storage)
    params = write_params(tmp_path, TINY_PARAMS)
    assert main(["--params", str(params), "prepare", "--dataset", "nyuv2", "--raw", str(tmp_path / "raw"),
                 "--out", str(tmp_path / "shards")]) == 0

    lookup = np.concatenate([[255], truth["map_class"] - 1])
    frames = {}
    for split in ("train", "val", "test"):
        for sample in load_split(tmp_path / "shards", split, required=("rgb", "depth", "seg", "normal")):
            frame = sample["meta"]["frame"]
            frames[frame] = split
            i = frame - 1
            assert sample["rgb"].shape == (HEIGHT, WIDTH, 3)
            assert tuple(sample["rgb"][5, 7]) == tuple(truth["images"][i, :, 7, 5])
            assert sample["depth"][5, 7] == truth["depths"][i, 7, 5]
            label = truth["labels"][i, 7, 5]
            assert sample["seg"][5, 7] == lookup[label] == (255 if label == 0 else truth["map_class"][label - 1] - 1)
            assert (sample["seg"] == 255).sum() == (truth["labels"][i] == 0).sum()
            if frame == 1:
                interior = sample["normal"][6:-6, 6:-6].reshape(-1, 3)
                angles = np.degrees(np.arccos(np.clip(interior @ truth["wall"], -1, 1)))
                assert angles.max() < 0.5
    assert frames == {**{f: "train" for f in TRAIN if f != 10}, 10: "val", **{f: "test" for f in TEST}}
