"""The `panoramas` stage (pipelines/panoramas.py): synth panoramas -> shards with column-relative normals.

Proven: the stored normals match the exact camera-relative normals of each panorama's true camera (≤ 1° mean);
each sample records its canonical point; an override file's point is used for its key only; prepared panoramas
read from shards (the Stanford-2D-3D path) come out the same as rendered ones; the preview PNG is written.
"""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from components.data.shards import load_split, write_shards
from components.data.dataset import DatasetInfo
from components.data.synth.render import CLASS_NAMES
from components.data.synth.panorama import EquirectangularCamera, exact_local_normals
from pipelines.cli import main
from pipelines.panoramas import synth_panoramas
from tests.conftest import TINY_PARAMS, write_params


def mean_error_deg(normals: np.ndarray, reference: np.ndarray) -> float:
    valid = np.linalg.norm(reference, axis=-1) > 0.5
    cosine = np.clip(np.sum(normals[valid] * reference[valid], axis=-1), -1, 1)
    return float(np.degrees(np.arccos(cosine)).mean())


def test_panoramas_stage(tmp_path):
    params = write_params(tmp_path, TINY_PARAMS)
    assert main(["--params", str(params), "panoramas", "--out", str(tmp_path / "pano"),
                 "--preview", str(tmp_path / "preview.png")]) == 0
    samples = load_split(tmp_path / "pano", "test", required=("rgb", "normal", "depth"))
    config = TINY_PARAMS["panorama"]
    assert len(samples) == config["splits"]["test"]
    rendered = dict(synth_panoramas(config["seed"], config["height"], "test", config["splits"]["test"]))
    for sample in samples:
        meta = sample["meta"]
        camera = EquirectangularCamera(np.array(meta["camera_position"]), meta["yaw"])
        exact = exact_local_normals(rendered[sample["__key__"]]["normal"], camera)
        assert mean_error_deg(sample["normal"], exact) <= 1.0
        assert meta["canonical_point"]["source"] == "auto" and meta["normal_frame"] == "column camera"
    with Image.open(tmp_path / "preview.png") as preview:
        assert preview.width > 2 * config["height"] * 2

    # A clicked point overrides the automatic one for its key only.
    first, second = samples[0], samples[1]
    point = first["meta"]["canonical_point"]
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({first["__key__"]: {"row": point["row"], "column": round(point["column"]) + 1}}))
    assert main(["--params", str(params), "panoramas", "--out", str(tmp_path / "clicked"), "--overrides", str(overrides)]) == 0
    clicked = {s["__key__"]: s for s in load_split(tmp_path / "clicked", "test", required=("normal",))}
    assert clicked[first["__key__"]]["meta"]["canonical_point"]["source"] == "manual"
    assert clicked[second["__key__"]]["meta"]["canonical_point"] == second["meta"]["canonical_point"]
    assert mean_error_deg(clicked[first["__key__"]]["normal"], first["normal"]) <= 8.0

    # Prepared panoramas with global normals (what a Stanford-2D-3D prepare writes) go through the same transform.
    prepared = tmp_path / "prepared"
    for split in ("train", "val", "test"):
        write_shards(synth_panoramas(config["seed"], config["height"], split, config["splits"][split]), prepared, split, 8)
    DatasetInfo("synth_panorama", CLASS_NAMES, {}, {}).write(prepared)
    assert main(["--params", str(params), "panoramas", "--shards", str(prepared), "--out", str(tmp_path / "again")]) == 0
    again = {s["__key__"]: s for s in load_split(tmp_path / "again", "test", required=("normal",))}
    for sample in samples:
        np.testing.assert_array_equal(again[sample["__key__"]]["normal"], sample["normal"])
