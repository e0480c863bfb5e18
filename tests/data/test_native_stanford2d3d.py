"""Stanford 2D-3D-Semantics converter on a miniature raw tree in the noXYZ tars' layout (area_N/area_N/pano/ with
rgb, depth, normal, semantic and pose files named as the dataset names them), whose panoramas are synth rooms
encoded in the native formats: 16-bit depth at 1/512 m with 65535 missing, 127.5-centred global normals with
#808080 missing, semantic PNGs indexing a semantic_labels.json, pose JSONs.

Proven: depth comes out in metres (0 where missing), normals as unit vectors in the global frame (0 where missing),
labels by class name (wall -> 2, unknown names, <UNK> and the missing colour #0D0D0D -> 255); the panorama is halved
(rgb by 2 x 2 means, the rest by the top-left pixel of each block); official fold 1 with every 10th training
panorama as val, areas 5a + 5b as test; a corrupt file and a panorama whose floor normals do not point up each
yield (key, error) and the rest still come; a missing area or labels file is one clear error; an area unpacked
without the tar's top folder is read too; every sample encodes with the schema. End to end, the prepare stage's
shards go through `pixelpred panoramas --shards`, and the local normals of every wall match the exact
camera-relative normals of the room's true camera (0.3 degrees mean: the 8-bit quantisation).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components.data.native.stanford2d3d import SOURCE
from components.data.schema import encode_sample
from components.data.shards import load_split
from components.data.synth.panorama import exact_local_normals, render_panorama, sample_panorama
from components.data.synth.scene import BOX, CEILING, CYLINDER, FLOOR, SLAB, SPHERE, WALL
from components.errors import PixelpredError
from pipelines.cli import main
from tests.conftest import TINY_PARAMS, write_params

H, W = 64, 128                     # full resolution of the miniature panoramas; stored at 32 x 64
LABELS = ["<UNK>_0_<UNK>_0_0", "wall_1_office_1_1", "floor_1_office_1_1", "ceiling_1_office_1_1",
          "table_1_office_1_1", "chair_1_office_1_1", "column_1_office_1_1", "stairs_1_office_1_1"]
# Synth class -> index into LABELS; slabs become "stairs", a name outside the 13 classes.
LABEL_OF = {WALL: 1, FLOOR: 2, CEILING: 3, BOX: 4, SPHERE: 5, CYLINDER: 6, SLAB: 7}
PANORAMAS = {"area_1": [(1, "office_1"), (2, "office_1"), (3, "hallway_2")], "area_2": [(4, "WC_1"), (5, "WC_1")],
             "area_3": [(6, "office_3"), (7, "lounge_1")], "area_4": [(8, "office_9"), (9, "office_9")],
             "area_6": [(10, "conferenceRoom_1"), (11, "office_4")], "area_5a": [(12, "office_2")],
             "area_5b": [(13, "hallway_7")]}
MISSING = (slice(0, 4), slice(0, 8))   # full-res pixels without mesh: no depth, no normal, missing label colour


def frame_name(seed: int, room: str) -> str:
    return f"camera_{seed:032x}_{room}_frame_equirectangular_domain"


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)  # uint16 arrays become 16-bit greyscale PNGs, like the dataset's depth


def native_files(seed: int) -> dict[str, np.ndarray]:
    """A synth room as the dataset stores a panorama: depth, normal and semantic PNG arrays, plus the truth."""
    view = render_panorama(seed, H, W)
    depth = np.round(view["depth"] * 512).astype(np.uint16)
    normal = np.clip(np.round(view["normal"] * 127.5 + 127.5), 0, 255).astype(np.uint8)
    index = np.vectorize(lambda c: LABEL_OF.get(int(c), 0))(view["seg"]).astype(np.int64)
    semantic = np.stack([index >> 16, (index >> 8) & 255, index & 255], axis=-1).astype(np.uint8)
    depth[MISSING], normal[MISSING], semantic[MISSING] = 65535, 128, 13
    return {"rgb": view["rgb"], "depth": depth, "normal": normal, "semantic": semantic, "truth": view}


def build_raw(raw: Path) -> None:
    raw.mkdir(parents=True)
    (raw / "semantic_labels.json").write_text(json.dumps(LABELS))
    for area, frames in PANORAMAS.items():
        pano = raw / area / area / "pano"
        for seed, room in frames:
            files, name = native_files(seed), frame_name(seed, room)
            write_png(pano / "rgb" / f"{name}_rgb.png", files["rgb"])
            write_png(pano / "depth" / f"{name}_depth.png", files["depth"])
            write_png(pano / "normal" / f"{name}_normals.png", files["normal"])
            write_png(pano / "semantic" / f"{name}_semantic.png", files["semantic"])
            (pano / "pose").mkdir(exist_ok=True)
            (pano / "pose" / f"{name}_pose.json").write_text(json.dumps({
                "camera_location": [1.5, -2.0, float(seed)], "camera_uuid": f"{seed:032x}", "frame_num": 0,
                "room": f"{room}_{area[5:]}", "field_of_view_rads": np.pi / 2}))


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stanford") / "raw"
    build_raw(root)
    return root


def keyed(seed: int, area: str) -> str:
    room = dict(PANORAMAS[area])[seed]
    return f"stanford2d3d/{area}/{seed:032x}_{room}"


def test_fixture_files_match_the_real_formats(raw):
    pano = raw / "area_1/area_1/pano"
    with Image.open(pano / f"depth/{frame_name(1, 'office_1')}_depth.png") as image:
        assert image.mode == "I;16" and image.size == (W, H)
    with Image.open(pano / f"semantic/{frame_name(1, 'office_1')}_semantic.png") as image:
        assert image.mode == "RGB" and image.getpixel((0, 0)) == (13, 13, 13)


def test_values(raw):
    items = dict(SOURCE.samples(raw, "test"))
    assert list(items) == [keyed(12, "area_5a"), keyed(13, "area_5b")]
    sample, files = items[keyed(12, "area_5a")], native_files(12)
    truth = files["truth"]
    assert sample["rgb"].shape == (H // 2, W // 2, 3) and sample["depth"].dtype == np.float32
    block = truth["rgb"][10:12, 20:22].reshape(-1, 3).astype(float).mean(axis=0)
    assert np.abs(sample["rgb"][5, 10].astype(float) - block).max() <= 0.5
    # Depth: the full-resolution pixel (2r, 2c), in metres to the 1/512 m step; 0 where missing.
    valid = np.ones((H // 2, W // 2), bool)
    valid[0:2, 0:4] = False
    np.testing.assert_allclose(sample["depth"][valid], truth["depth"][::2, ::2][valid], atol=1 / 1024)
    assert (sample["depth"][~valid] == 0).all() and (sample["normal"][~valid] == 0).all()
    assert (sample["seg"][~valid] == 255).all()
    # Normals: unit, global (the synth room's own frame), within the 8-bit quantisation.
    normals, reference = sample["normal"][valid], truth["normal"][::2, ::2][valid]
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, atol=1e-5)
    assert np.degrees(np.arccos(np.clip(np.sum(normals * reference, axis=-1), -1, 1))).max() < 0.5
    # Labels by name: synth wall -> "wall" (2), floor -> 1, ceiling -> 0; "stairs" is none of the 13 classes.
    expected = {WALL: 2, FLOOR: 1, CEILING: 0, BOX: 7, SPHERE: 8, CYLINDER: 4, SLAB: 255}
    for synth_class, class_id in expected.items():
        at = (truth["seg"][::2, ::2] == synth_class) & valid
        assert (sample["seg"][at] == class_id).all()
    assert (sample["seg"] == 2).any() and (sample["seg"] == 1).any()
    meta = sample["meta"]
    assert meta["area"] == "area_5a" and meta["room"] == "office_2" and meta["camera_uuid"] == f"{12:032x}"
    assert meta["camera_location"] == [1.5, -2.0, 12.0] and meta["normal_frame"] == "global"
    assert meta["depth"] == "range" and meta["crop_rows"] == [5, 27] and meta["split"] == "test"
    assert f"area_5a/area_5a/pano/semantic/{frame_name(12, 'office_2')}_semantic.png" in meta["source"]
    assert all((raw / path).is_file() for path in meta["source"])


def test_splits_and_schema(raw):
    results = {split: list(SOURCE.samples(raw, split)) for split in ("train", "val", "test")}
    keys = {split: [key for key, _ in items] for split, items in results.items()}
    train_frames = sorted((area, frame_name(seed, room)) for area in ("area_1", "area_2", "area_3", "area_4", "area_6")
                          for seed, room in PANORAMAS[area])
    area, name = train_frames[9]    # the 10th of the 11 training panoramas, sorted
    assert keys["val"] == [f"stanford2d3d/{area}/{name.removeprefix('camera_').split('_frame_')[0]}"]
    assert len(keys["train"]) == 10 and not set(keys["train"]) & set(keys["val"] + keys["test"])
    for split, items in results.items():
        for key, sample in items:
            assert set(sample) == {"rgb", "depth", "normal", "seg", "meta"} and sample["meta"]["split"] == split
            assert set(encode_sample(key, sample)) == {"__key__", "rgb.png", "depth.npy", "normal.npy", "seg.png",
                                                       "json"}


def test_corrupt_files_and_a_frame_that_is_not_z_up(raw, tmp_path):
    copy = tmp_path / "raw"
    shutil.copytree(raw, copy)
    (copy / f"area_1/area_1/pano/depth/{frame_name(2, 'office_1')}_depth.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    y_up = native_files(12)["normal"][..., [0, 2, 1]]      # the same room with y as the vertical axis
    write_png(copy / f"area_5a/area_5a/pano/normal/{frame_name(12, 'office_2')}_normals.png", y_up)
    train = dict(SOURCE.samples(copy, "train"))
    assert [key for key, sample in train.items() if isinstance(sample, Exception)] == [keyed(2, "area_1")]
    assert len(train) == 10 and sum(isinstance(sample, dict) for sample in train.values()) == 9
    test = dict(SOURCE.samples(copy, "test"))
    assert isinstance(test[keyed(12, "area_5a")], ValueError) and "not +z" in str(test[keyed(12, "area_5a")])
    assert isinstance(test[keyed(13, "area_5b")], dict)


def test_missing_area_or_labels_and_a_hand_unpacked_area(raw, tmp_path):
    copy = tmp_path / "raw"
    shutil.copytree(raw, copy, ignore=shutil.ignore_patterns("area_6"))
    with pytest.raises(PixelpredError, match="area_6/area_6/pano is missing .*area_6_no_xyz.tar"):
        next(SOURCE.samples(copy, "train"))
    for area in ("area_5a", "area_5b"):      # unpacked by hand, without the tar's own top folder
        (copy / area / area).rename(copy / f"{area}-tar")
        shutil.rmtree(copy / area)
        (copy / f"{area}-tar").rename(copy / area)
    assert [key for key, _ in SOURCE.samples(copy, "test")] == [keyed(12, "area_5a"), keyed(13, "area_5b")]
    (copy / "semantic_labels.json").unlink()
    with pytest.raises(PixelpredError, match="semantic_labels.json is missing"):
        next(SOURCE.samples(copy, "test"))


def test_prepared_panoramas_through_the_panoramas_stage(raw, tmp_path):
    params = write_params(tmp_path, TINY_PARAMS)
    assert main(["--params", str(params), "prepare", "--dataset", "stanford2d3d", "--raw", str(raw),
                 "--out", str(tmp_path / "shards")]) == 0
    assert main(["--params", str(params), "panoramas", "--shards", str(tmp_path / "shards"),
                 "--out", str(tmp_path / "local")]) == 0
    transformed = load_split(tmp_path / "local", "test", required=("rgb", "depth", "normal", "seg"))
    assert [s["__key__"] for s in transformed] == [keyed(12, "area_5a"), keyed(13, "area_5b")]
    for sample, seed in zip(transformed, (12, 13)):
        _, camera = sample_panorama(seed)
        # Each stored column is full-resolution column 2u, so its camera is that column's camera.
        # ... and the rows kept are the thesis's crop, 160-863 of 1024, here 5-26 of 32.
        exact = exact_local_normals(render_panorama(seed, H, W)["normal"], camera)[::2, ::2][5:27]
        assert sample["rgb"].shape == (22, W // 2, 3) and sample["depth"].shape == sample["seg"].shape == (22, W // 2)
        wall = (sample["seg"] == 2) & (np.linalg.norm(exact, axis=-1) > 0.5)
        cosine = np.clip(np.sum(sample["normal"][wall] * exact[wall], axis=-1), -1, 1)
        assert wall.sum() > 200 and np.degrees(np.arccos(cosine)).mean() < 1.0
        assert sample["meta"]["canonical_point"]["source"] == "auto"
        assert sample["meta"]["normal_frame"] == "column camera"
