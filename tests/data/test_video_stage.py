"""The `video` stage (pipelines/video.py): synth clips -> frame-pair shards (train/val) and whole test clips.

Proven: split sizes and gaps follow the params (1..max_gap, both orders); every pair's flow both ways is the
clip's exact flow; test clips hold every frame, the instance masks and the flow at each evaluation gap (zero and
invalid past the clip's end); the manifest records gap and flow statistics; the bytes are the same on a rerun.
"""
from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from components.config import VideoConfig, from_dict
from components.data.dataset import DatasetInfo
from components.data.shards import load_split, read_manifest
from pipelines.cli import main
from pipelines.video import synth_clip
from tests.conftest import TINY_PARAMS, write_params


def _digests(directory) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_video_stage_writes_pairs_and_clips(tmp_path):
    params = write_params(tmp_path, TINY_PARAMS)
    out = tmp_path / "video"
    assert main(["--params", str(params), "video", "--out", str(out), "--preview", str(tmp_path / "preview.png")]) == 0
    config = from_dict(VideoConfig, TINY_PARAMS["video"], "video")
    info = DatasetInfo.read(out)
    assert info.source == "synth_video"
    assert info.split_sizes == {"train": 12, "val": 4, "test": 2}

    pairs = load_split(out, "train", required=("a", "b", "flow", "valid", "flow_back", "valid_back"))
    assert len(pairs) == 12
    gaps = [p["meta"]["gap"] for p in pairs]
    assert set(gaps) <= set(range(1, config.max_gap + 1)) and len(set(gaps)) > 1
    orders = {np.sign(p["meta"]["frames"][1] - p["meta"]["frames"][0]) for p in pairs}
    assert orders == {-1, 1}
    clips = {}
    for pair in pairs:
        index = int(pair["meta"]["clip"].split("_")[1])
        clip = clips.setdefault(index, synth_clip(config, "train", index))
        t, s = pair["meta"]["frames"]
        np.testing.assert_array_equal(pair["a"], clip.frame(t)["rgb"])
        np.testing.assert_array_equal(pair["b"], clip.frame(s)["rgb"])
        for (flow, valid), name in ((clip.flow(t, s), ""), (clip.flow(s, t), "_back")):
            np.testing.assert_array_equal(pair["flow" + name], flow)
            np.testing.assert_array_equal(pair["valid" + name], valid.astype(np.uint8))
        assert pair["a"].shape == (config.height, config.width, 3)

    tests = load_split(out, "test", required=("frames", "masks", "flows", "flows_valid"))
    assert len(tests) == 2
    for sample in tests:
        clip = synth_clip(config, "test", int(sample["meta"]["clip"].split("_")[1]))
        assert sample["frames"].shape == (11, 32, 48, 3) and sample["masks"].shape == (11, 32, 48)
        assert sample["flows"].shape == (3, 11, 32, 48, 2) and sample["meta"]["gaps"] == [1, 5, 10]
        np.testing.assert_array_equal(sample["masks"][7], clip.frame(7)["inst"])
        np.testing.assert_array_equal(sample["flows"][1, 3], clip.flow(3, 8)[0])  # gap 5, frame 3 into 8
        assert sample["flows_valid"][2, 0].any() and not sample["flows_valid"][2, 1:].any()  # gap 10 of 11 frames
        assert not sample["flows"][2, 1:].any()

    manifest = read_manifest(out, "train").to_pylist()
    assert [row["gap"] for row in manifest] == gaps
    assert all(row["flow_max_px"] >= row["flow_mean_px"] >= 0 and 0 < row["valid_fraction"] <= 1 for row in manifest)
    with Image.open(tmp_path / "preview.png") as preview:
        assert preview.width > 5 * 48

    before = _digests(out)
    assert main(["--params", str(params), "video", "--out", str(out)]) == 0
    assert _digests(out) == before
