"""Real-dataset preparation and shard reading at full size.

Generates a NYUv2-like `nyu_depth_v2_labeled.mat` (HDF5 with MATLAB v7.3's transposed layout; 640 x 480 frames,
smooth random depth so the normals fit does real work) and a BSDS-like tree (481 x 321 JPEGs, 5-annotator
groundTruth .mat files), converts both with the real converters into shards (`write_shards`, as the prepare
stage does), then decodes every shard sample as training reads it, in one process. The NYUv2 converter fits
normals in a pool of one process per core, BSDS500 converts in one. Prints JSON: images/s (and per core) for
prepare, samples/s per core for reading, per dataset, and the cores one GPU needs to be fed at a given
training rate (`--gpu-samples-per-s`: measure it on the GPU; without a measurement the value is an input).
    .venv/bin/python -m benchmarks.prepare_throughput [--frames 48] [--bsds 40]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import scipy.io
from PIL import Image
from scipy.ndimage import gaussian_filter

from benchmarks.machine_speed import cpu_model
from components.data.native.bsds500 import DATA_DIR, SOURCE as BSDS500
from components.data.native.nyuv2 import SOURCE as NYUV2
from components.data.shards import iterate_samples, shard_paths, write_shards


def nyuv2_like(raw: Path, frames: int, rng: np.random.Generator) -> None:
    """A full-size labeled .mat with `frames` frames (all train but one in ten test), splits and mapping files."""
    depth = np.stack([gaussian_filter(rng.uniform(1, 6, (640, 480)), 25) for _ in range(frames)]).astype(np.float32)
    with h5py.File(raw / "nyu_depth_v2_labeled.mat", "w") as mat:
        mat["images"] = rng.integers(0, 255, (frames, 3, 640, 480), dtype=np.uint8)
        mat["depths"] = depth
        mat["labels"] = rng.integers(0, 895, (frames, 640, 480), dtype=np.uint16)
    test = np.arange(10, frames + 1, 10)
    train = np.setdiff1d(np.arange(1, frames + 1), test)
    scipy.io.savemat(raw / "splits.mat", {"trainNdxs": train[:, None], "testNdxs": test[:, None]})
    scipy.io.savemat(raw / "classMapping40.mat", {"mapClass": rng.integers(1, 41, (1, 894))})


def bsds_like(raw: Path, images: int, rng: np.random.Generator) -> None:
    for split in ("train", "val", "test"):
        (raw / DATA_DIR / "images" / split).mkdir(parents=True)
        (raw / DATA_DIR / "groundTruth" / split).mkdir(parents=True)
    for index in range(images):
        split = ("train", "val", "test")[index % 3]
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (321, 481, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=90)
        (raw / DATA_DIR / "images" / split / f"{index}.jpg").write_bytes(buffer.getvalue())
        cells = np.empty((1, 5), dtype=object)
        for k in range(5):
            cells[0, k] = {"Segmentation": np.ones((321, 481), np.uint16), "Boundaries": rng.random((321, 481)) < 0.05}
        scipy.io.savemat(raw / DATA_DIR / "groundTruth" / split / f"{index}.mat", {"groundTruth": cells})


def measure(source, raw: Path, shards: Path, processes: int) -> dict:
    """Convert (with `processes` processes) and read back one dataset -> its rates."""
    started, count = time.perf_counter(), 0
    for split in ("train", "val", "test"):
        samples = [(key, sample) for key, sample in source.samples(raw, split)]
        count += len(samples)
        write_shards(iter(samples), shards, split, 64)
    prepare_s = time.perf_counter() - started
    started, read = time.perf_counter(), 0
    for split in ("train", "val", "test"):
        for _ in iterate_samples(shard_paths(shards, split)):
            read += 1
    read_s = time.perf_counter() - started
    size = sum(p.stat().st_size for p in shards.glob("*.tar"))
    return {"images": count, "prepare_s": round(prepare_s, 2), "prepare_processes": processes,
            "prepare_images_per_s": round(count / prepare_s, 2),
            "prepare_images_per_s_per_core": round(count / prepare_s / processes, 2),
            "read_samples_per_s_per_core": round(read / read_s, 1), "shard_mib_per_image": round(size / count / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=48, help="NYUv2-like frames (full dataset: 1449)")
    parser.add_argument("--bsds", type=int, default=45, help="BSDS-like images (full dataset: 500)")
    parser.add_argument("--gpu-samples-per-s", type=float, default=0.0,
                        help="training samples/s one GPU consumes at thesis scale (measured there), for the estimate")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cores = len(os.sched_getaffinity(0))
    results = {"cpu_model": cpu_model(), "cores": cores}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, make, source, count, processes in (("nyuv2", nyuv2_like, NYUV2, args.frames, cores),
                                                     ("bsds500", bsds_like, BSDS500, args.bsds, 1)):
            (root / name / "raw").mkdir(parents=True)
            make(root / name / "raw", count, rng)
            results[name] = measure(source, root / name / "raw", root / name / "shards", processes)
            if args.gpu_samples_per_s:
                results[name]["cores_per_gpu"] = round(args.gpu_samples_per_s / results[name]["read_samples_per_s_per_core"], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
