"""BSDS500 end to end, offline: a miniature BSR_bsds500.tgz in the real layout (JPEGs, MATLAB v5 groundTruth
cells of per-annotator structs) is served over loopback HTTP, fetched and unpacked through the registry entry,
converted by the prepare stage and read back from the shards.

Proven: every annotator's boundary map survives, pixel for pixel, with K varying per image, and such images
batch for training (as annotator fractions); the official splits are kept; a corrupt .mat is skipped and
counted, the other images still come.
"""
from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from components.config import DownloadConfig, StorageConfig
from components.data import registry
from components.data.dataset import DatasetInfo
from components.data.shards import load_split
from components.data.transforms import collate
from pipelines.cli import main
from tests.conftest import TINY_PARAMS, write_params
from tests.services import FileServer

ROOT = "BSR/BSDS500/data"


def annotators(seed: int, count: int, height: int = 12, width: int = 16) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((height, width)) < 0.2 for _ in range(count)]


def ground_truth_mat(maps: list[np.ndarray]) -> bytes:
    cells = np.empty((1, len(maps)), dtype=object)
    for i, boundaries in enumerate(maps):
        cells[0, i] = {"Segmentation": np.ones(boundaries.shape, np.uint16), "Boundaries": boundaries}
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"groundTruth": cells})
    return buffer.getvalue()


def jpeg(seed: int, height: int = 12, width: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def miniature() -> tuple[bytes, dict[str, list[np.ndarray]]]:
    """BSR_bsds500.tgz with 3 train, 2 val, 2 test images (annotator counts 1..5); one corrupt test .mat."""
    members, truth = {}, {}
    image_id = 100
    for split, count in (("train", 3), ("val", 2), ("test", 2)):
        for _ in range(count):
            image_id += 1
            maps = annotators(image_id, 1 + image_id % 5)
            truth[f"bsds500/{image_id}"] = maps
            members[f"{ROOT}/images/{split}/{image_id}.jpg"] = jpeg(image_id)
            members[f"{ROOT}/groundTruth/{split}/{image_id}.mat"] = ground_truth_mat(maps)
    members[f"{ROOT}/images/test/999.jpg"] = jpeg(999)
    members[f"{ROOT}/groundTruth/test/999.mat"] = b"MATLAB 5.0 MAT-file, truncated"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), truth


def test_bsds500_archive_to_shards(tmp_path):
    archive, truth = miniature()
    entry = registry.entry("bsds500")
    with FileServer({"BSR_bsds500.tgz": archive}) as server:
        entry = replace(entry, files=(replace(entry.files[0], urls=(server.url("BSR_bsds500.tgz"),), size=len(archive),
                                              md5=hashlib.md5(archive).hexdigest()),))
        registry.fetch(entry, tmp_path / "raw", tmp_path / "lock.json", DownloadConfig(backoff_s=0.0), StorageConfig())
    params = write_params(tmp_path, TINY_PARAMS)
    assert main(["--params", str(params), "prepare", "--dataset", "bsds500", "--raw", str(tmp_path / "raw"),
                 "--out", str(tmp_path / "shards")]) == 0

    info = DatasetInfo.read(tmp_path / "shards")
    assert info.source == "bsds500"
    assert info.split_sizes == {"train": 3, "val": 2, "test": 2} and info.skipped == {"train": 0, "val": 0, "test": 1}
    seen = set()
    for split in ("train", "val", "test"):
        for sample in load_split(tmp_path / "shards", split, required=("rgb", "edge")):
            maps = truth[sample["__key__"]]
            assert sample["edge"].shape == (len(maps), 12, 16)
            np.testing.assert_array_equal(sample["edge"], np.stack(maps).astype(np.uint8))
            assert sample["rgb"].shape == (12, 16, 3) and sample["meta"]["split"] == split
            assert sample["meta"]["annotators"] == len(maps)
            seen.add(sample["__key__"])
    assert seen == set(truth)
    # Training batches images with different annotator counts: the edge target is each pixel's annotator fraction.
    train = load_split(tmp_path / "shards", "train", required=("rgb", "edge"))
    assert len({s["edge"].shape[0] for s in train}) > 1
    batch = collate(train, ("edge",))
    assert batch["edge"].shape == (3, 1, 12, 16)
    for sample, fraction in zip(train, batch["edge"].numpy()):
        np.testing.assert_allclose(fraction[0], np.stack(truth[sample["__key__"]]).mean(0), rtol=1e-6)
