"""Real video sets, offline (components.data.native.sintel / davis2017 / jhmdb and the `video --downloads` stage):
miniature archives in each dataset's native layout and formats (PNG/JPEG frames, Middlebury .flo, occlusion
PNGs, indexed-palette annotations, MATLAB puppet masks, the official split lists), unpacked by the project's
safe extractor into the registry's unpack directories, converted and read back from the shards.

Proven: split membership follows the official lists (Sintel by scene); values survive the resize (a flow
vector scaled by the size ratio, an occluded pixel invalid, a palette id, void as background, the actor as
instance 1); DAVIS keeps several objects per clip; JHMDB clips end at their last mask; pairs carry flow only
where the dataset has it both ways; test clips come from `test_from` only and record which gaps have flow.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from components.config import RealVideoConfig
from components.data import registry
from components.data.dataset import DatasetInfo
from components.data.flo import flo_bytes
from components.data.shards import load_split
from components.data.video import get_video_source
from components.errors import PixelpredError
from components.storage.archive import extract
from pipelines.cli import main
from tests.conftest import TINY_PARAMS, write_params
from tests.data.test_registry import tar_gz

NATIVE = (64, 96)          # native frame size of the miniatures; the stage halves it
SIZE = (32, 48)
SINTEL_SCENES = ("alley_1", "bamboo_1", "cave_2", "market_5", "temple_3")       # test: alley_1, temple_3
DAVIS_TRAIN = tuple(f"seq-{i:02d}" for i in range(11))                           # val: seq-09
DAVIS_VAL = ("bike-packing", "dogs-jump")


def png(array: np.ndarray, palette: bool = False) -> bytes:
    image = Image.fromarray(array)
    if palette:
        image = image.convert("P")                    # indices = the array's values (mode L -> P keeps them)
        image.putpalette([value for i in range(256) for value in (i, 255 - i, (7 * i) % 256)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*NATIVE, 3), dtype=np.uint8)


def sintel_flow(scene: int, t: int) -> np.ndarray:
    flow = np.zeros((*NATIVE, 2), np.float32)
    flow[..., 0], flow[..., 1] = 4.0 + scene + t, -2.0       # (u, v) in native pixels
    return flow


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sintel_archive() -> dict[str, bytes]:
    """MPI-Sintel-complete.zip: 5 training scenes of 4 frames, both passes, flow, occlusions and invalid masks."""
    members = {"README.txt": b"MPI-Sintel"}
    for s, scene in enumerate(SINTEL_SCENES):
        for t in range(1, 5):
            for number, pass_name in enumerate(("clean", "final")):
                members[f"training/{pass_name}/{scene}/frame_{t:04d}.png"] = png(frame(100 * s + 10 * t + number))
            if t < 4:
                occluded = np.zeros(NATIVE, np.uint8)
                occluded[:8, :8] = 255                           # the top-left 8 x 8 native pixels
                members[f"training/flow/{scene}/frame_{t:04d}.flo"] = flo_bytes(sintel_flow(s, t))
                members[f"training/occlusions/{scene}/frame_{t:04d}.png"] = png(occluded)
                members[f"training/invalid/{scene}/frame_{t:04d}.png"] = png(np.zeros(NATIVE, np.uint8))
    return {"MPI-Sintel-complete.zip": zip_bytes(members)}


def davis_objects(t: int) -> np.ndarray:
    ids = np.zeros(NATIVE, np.uint8)
    ids[8:24, 8 + t:40 + t] = 1
    ids[36:60, 50:90] = 2
    ids[36:38, 50:90] = 255                                  # a void border
    return ids


def davis_archive() -> dict[str, bytes]:
    members = {"DAVIS/ImageSets/2017/train.txt": "\n".join(DAVIS_TRAIN).encode() + b"\n",
               "DAVIS/ImageSets/2017/val.txt": "\n".join(DAVIS_VAL).encode() + b"\n"}
    for q, sequence in enumerate(DAVIS_TRAIN + DAVIS_VAL):
        for t in range(5):
            members[f"DAVIS/JPEGImages/480p/{sequence}/{t:05d}.jpg"] = jpeg(frame(1000 + 10 * q + t))
            members[f"DAVIS/Annotations/480p/{sequence}/{t:05d}.png"] = png(davis_objects(t), palette=True)
    return {"DAVIS-2017-trainval-480p.zip": zip_bytes(members)}


def jhmdb_archive() -> dict[str, bytes]:
    """Two actions, 3 + 1 videos (split 1: 2 train + 1 test in 'jump', 1 train in 'run'); one video has a mask fewer."""
    videos = {("jump", "Boy_jumps_(fast)_f_cm_np1_ri_bad_0"): "1", ("jump", "Girl_jumps_f_cm_np1_le_med_1"): "1",
              ("jump", "Man_jumps_f_cm_np1_fr_goo_2"): "2", ("run", "Runner_run_f_cm_np1_ba_med_0"): "1"}
    frames, masks, splits = {}, {}, {}
    for v, ((action, video), which) in enumerate(videos.items()):
        count = 6
        for t in range(count):
            frames[f"Rename_Images/{action}/{video}/{t + 1:05d}.png"] = png(frame(5000 + 10 * v + t))
        part = np.zeros((*NATIVE, count - (v == 0)), np.uint8)    # the first video lacks its last mask
        part[16:48, 30 + v:60 + v] = 1
        buffer = io.BytesIO()
        scipy.io.savemat(buffer, {"part_mask": part})
        masks[f"puppet_mask/{action}/{video}/puppet_mask.mat"] = buffer.getvalue()
        splits.setdefault(action, []).append(f"{video}.avi {which}")
    split_files = {f"splits/{action}_test_split1.txt": ("\n".join(lines) + "\n").encode() for action, lines in splits.items()}
    split_files |= {f"splits/{action}_test_split2.txt": b"" for action in splits}
    return {"Rename_Images.tar.gz": tar_gz(frames), "puppet_mask.zip": zip_bytes(masks),
            "joint_positions.zip": zip_bytes({"joint_positions/README": b"joints"}), "splits.zip": zip_bytes(split_files)}


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    """<downloads>/<dataset>/ as the download stage leaves it: each archive unpacked into its registry directory."""
    root = tmp_path_factory.mktemp("downloads")
    for dataset, archives in (("sintel", sintel_archive()), ("davis2017", davis_archive()), ("jhmdb", jhmdb_archive())):
        unpack = {file.name: file.unpack for file in registry.entry(dataset).files}
        for name, data in archives.items():
            archive = root / dataset / name
            archive.parent.mkdir(parents=True, exist_ok=True)
            archive.write_bytes(data)
            extract(archive, root / dataset / unpack[name], max_total_bytes=10 ** 8)
    return root


CONFIG = RealVideoConfig(height=SIZE[0], width=SIZE[1], pairs_per_clip=3, max_gap=2, eval_gaps=(1, 2))


def test_sintel_splits_by_scene_and_keeps_its_flow_scaled_with_occlusions_invalid(downloads):
    source = get_video_source("sintel")
    keys = {split: [key for key, _ in source.clips(downloads / "sintel", split, CONFIG)] for split in ("train", "val", "test")}
    assert keys["test"] == ["sintel-final-alley_1", "sintel-final-temple_3"]        # every 4th scene, final pass
    assert keys["train"] == [f"sintel-{p}-{s}" for s in ("bamboo_1", "cave_2", "market_5") for p in ("clean", "final")]
    assert keys["val"] == []                                                          # fewer than 10 training scenes
    clip = dict(source.clips(downloads / "sintel", "test", CONFIG))["sintel-final-temple_3"]
    assert clip.num_frames == 4 and clip.frame(0)["rgb"].shape == (*SIZE, 3) and "inst" not in clip.frame(0)
    flow, valid = clip.flow(1, 2)
    # temple_3 is scene 4: native (u, v) = (4 + 4 + 2, -2) at frame_0002, halved with the frame size.
    np.testing.assert_allclose(flow[10, 20], [5.0, -1.0])
    assert not valid[:4, :4].any() and valid[4:, 4:].all()     # 8 x 8 occluded native pixels -> 4 x 4
    assert clip.flow(2, 1) is None and clip.flow(0, 2) is None  # Sintel stores t -> t + 1 only


def test_davis_keeps_the_official_lists_several_objects_and_void_as_background(downloads):
    source = get_video_source("davis2017")
    clips = {split: dict(source.clips(downloads / "davis2017", split, CONFIG)) for split in ("train", "val", "test")}
    assert sorted(clips["test"]) == ["davis2017-bike-packing", "davis2017-dogs-jump"]
    assert sorted(clips["val"]) == ["davis2017-seq-09"] and len(clips["train"]) == 10
    masks = clips["test"]["davis2017-dogs-jump"].frame(3)["inst"]
    assert masks.shape == SIZE and masks.dtype == np.uint16
    assert set(np.unique(masks)) == {0, 1, 2}
    assert masks[24, 35] == 2 and masks[8, 12] == 1 and masks[0, 0] == 0             # native (49, 71), (17, 25)
    assert masks[18, 30] == 0 and masks[19, 30] == 2                                  # native row 37: void -> 0


def test_jhmdb_follows_split_1_and_ends_each_clip_at_its_last_mask(downloads):
    source = get_video_source("jhmdb")
    clips = {split: dict(source.clips(downloads / "jhmdb", split, CONFIG)) for split in ("train", "test")}
    assert list(clips["test"]) == ["jhmdb-jump-Man_jumps_f_cm_np1_fr_goo_2"]
    assert sorted(clips["train"]) == ["jhmdb-jump-Boy_jumps_-fast-_f_cm_np1_ri_bad_0",
                                      "jhmdb-jump-Girl_jumps_f_cm_np1_le_med_1", "jhmdb-run-Runner_run_f_cm_np1_ba_med_0"]
    short = clips["train"]["jhmdb-jump-Boy_jumps_-fast-_f_cm_np1_ri_bad_0"]
    assert short.num_frames == 5                              # 6 frames, 5 masks
    actor = short.frame(4)["inst"]
    assert actor[16, 24] == 1 and actor[4, 24] == 0 and set(np.unique(actor)) == {0, 1}


def test_the_video_stage_shards_every_source_and_tests_on_test_from(downloads, tmp_path):
    params = dict(TINY_PARAMS, real_video={"sources": ["sintel", "davis2017", "jhmdb"], "test_from": ["davis2017", "sintel"],
                                           "height": SIZE[0], "width": SIZE[1], "pairs_per_clip": 3, "max_gap": 2,
                                           "eval_gaps": [1, 2], "samples_per_shard": 8})
    out = tmp_path / "video_real"
    assert main(["--params", str(write_params(tmp_path, params)), "video", "--downloads", str(downloads),
                 "--out", str(out), "--preview", str(tmp_path / "preview.png")]) == 0
    info = DatasetInfo.read(out)
    assert info.source == "sintel-davis2017-jhmdb+davis2017-sintel"
    # train: 6 Sintel clips, 10 DAVIS sequences, 3 JHMDB videos; val: DAVIS's held-out sequence; 3 pairs each.
    assert info.split_sizes == {"train": 3 * 19, "val": 3, "test": 4}
    pairs = load_split(out, "train")
    assert all("flow" not in p for p in pairs)              # no dataset here has flow both ways
    assert {p["meta"]["source"] for p in pairs} == {"sintel", "davis2017", "jhmdb"}
    assert all(p["a"].shape == (*SIZE, 3) and 1 <= p["meta"]["gap"] <= 2 for p in pairs)
    tests = {clip["meta"]["clip"]: clip for clip in load_split(out, "test")}
    assert set(tests) == {"davis2017-bike-packing", "davis2017-dogs-jump", "sintel-final-alley_1", "sintel-final-temple_3"}
    sintel, davis = tests["sintel-final-temple_3"], tests["davis2017-dogs-jump"]
    assert sintel["meta"]["gaps"] == [1, 2] and sintel["meta"]["flow_gaps"] == [1] and "masks" not in sintel
    np.testing.assert_allclose(sintel["flows"][0, 1, 10, 20], [5.0, -1.0])
    assert sintel["flows_valid"][0, 1, :4, :4].max() == 0 and sintel["flows_valid"][0, 3].max() == 0   # past the end
    assert davis["meta"]["flow_gaps"] == [] and "flows" not in davis and davis["masks"].shape == (5, *SIZE)
    assert Image.open(tmp_path / "preview.png").size[0] > 0


def test_an_image_converter_refuses_a_video_dataset_and_back():
    with pytest.raises(PixelpredError, match="video_real stage"):
        from components.data.sources import get_source
        get_source("sintel")
    with pytest.raises(PixelpredError, match="not a video dataset"):
        get_video_source("bsds500")
