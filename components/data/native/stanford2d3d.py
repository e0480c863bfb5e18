"""Stanford 2D-3D-Semantics equirectangular panoramas (seg, depth, normals; ch. 2-4), for the `panoramas` stage.

Each area's noXYZ tar is unpacked into `<raw>/area_N/`; its top folder is `area_N/` (loaders read
`<root>/area_N/pano/`), so the panoramas are in `<raw>/area_N/area_N/pano/` (`<raw>/area_N/pano/` is read too).
In `pano/`, one panorama per camera position, all named `camera_<uuid>_<room>_frame_equirectangular_domain_<modality>`
(README of github.com/alexsax/2D-3D-Semantics):
- rgb/`..._rgb.png`: 2048 x 4096 RGB; depth/`..._depth.png`: 16-bit, 1/512 m per unit, 65535 = missing, the
  distance from the camera centre (a range, not a z-depth); pose/`..._pose.json`: camera_location and rotations.
- normal/`..._normals.png`: 8-bit, n = p / 127.5 - 1, #808080 where the mesh is missing, in the GLOBAL frame of
  the area's mesh: Blender's world frame (the pose's RT matrix is Blender's matrix_world, alexsax/2D-3D-Semantics
  issue #15), z up as in the area's point clouds (their boxes and alignment angles are about Z). That is the frame
  components/data/panorama.py expects (global, z up, columns turning clockwise seen from above, as an unmirrored
  panorama's do), so the normals are kept as they are. Each sample's floor normals are checked to point up, so a
  different vertical axis fails loudly; the turning direction cannot be checked without the data.
- semantic/`..._semantic.png`: R * 65536 + G * 256 + B indexes `semantic_labels.json` (the repository's assets/
  file, which the download stage puts at `<raw>/semantic_labels.json`), whose entries read
  `class_instance_roomType_roomNum_area`; index 0 (`<UNK>`) and the missing-data colour #0D0D0D (beyond the list) are ignored (255).

Stored as the thesis uses them (§2.3.1): rescaled by 0.5 to 1024 x 2048 (rgb: 2 x 2 means; depth, normals and
labels: the top-left pixel of each 2 x 2 block, so no label or depth is blended across an edge). The thesis then
crops rows y in [160, 863] of the rescaled panorama (704 rows: "final images of size 704 x 2048"); that crop is
recorded in meta (`crop_rows`, scaled to the stored height) and applied by the panoramas stage after the normal
transform, which places every row at its elevation on the full sphere and so needs the whole panorama. Splits: official fold 1, train areas 1, 2, 3, 4, 6 (every 10th panorama held out
as val) and test areas 5a + 5b. The thesis itself validates on areas 3 and 4 (489 panoramas); we keep the fold.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from components.data.native import hold_out_val
from components.data.sources import Source
from components.errors import PixelpredError

LABELS_FILE = "semantic_labels.json"
AREAS = {"train": ("area_1", "area_2", "area_3", "area_4", "area_6"), "test": ("area_5a", "area_5b")}
CLASS_NAMES = ("ceiling", "floor", "wall", "beam", "column", "window", "door", "table", "chair", "sofa", "bookcase",
               "board", "clutter")
PREFIX, SUFFIX = "camera_", "_frame_equirectangular_domain"
MODALITIES = {"rgb": ("rgb", "rgb.png"), "depth": ("depth", "depth.png"), "normal": ("normal", "normals.png"),
              "semantic": ("semantic", "semantic.png"), "pose": ("pose", "pose.json")}
DEPTH_UNITS_PER_METRE, DEPTH_MISSING = 512.0, 65535
THESIS_CROP_ROWS = (160, 864)     # y in [160, 863] of the rescaled 1024-row panorama
MIN_FLOOR_UP = np.cos(np.radians(30.0))


def pano_dir(raw_dir: Path, area: str) -> Path:
    """Raw dir, area -> its pano/ folder (inside the tar's own area_N/ folder, or unpacked by hand)."""
    for candidate in (raw_dir / area / area / "pano", raw_dir / area / "pano"):
        if candidate.is_dir():
            return candidate
    raise PixelpredError(f"{raw_dir / area / area / 'pano'} is missing (is {area}_no_xyz.tar unpacked? "
                         "run the download stage)")


def label_lookup(path: Path) -> np.ndarray:
    """semantic_labels.json -> uint8 table: label index -> class id (0..12), 255 for <UNK> and other names."""
    names = [label.split("_")[0] for label in json.loads(path.read_text())]
    return np.array([CLASS_NAMES.index(name) if name in CLASS_NAMES else 255 for name in names], dtype=np.uint8)


def read_png(path: Path, mode: str | None = None) -> np.ndarray:
    """PNG (converted to `mode` if given) -> its pixel array, decoded now so that a truncated file fails here."""
    with Image.open(path) as image:
        image.load()
        return np.asarray(image if mode is None else image.convert(mode))


def decode_semantic(colours: np.ndarray, lookup: np.ndarray) -> np.ndarray:
    """Semantic PNG pixels (H, W, 3) -> uint8 class ids (H, W), 255 where unknown or missing."""
    index = (colours[..., 0].astype(np.int64) << 16) | (colours[..., 1].astype(np.int64) << 8) | colours[..., 2]
    return np.append(lookup, np.uint8(255))[np.minimum(index, len(lookup))]


def decode_depth(png: np.ndarray) -> np.ndarray:
    """16-bit depth PNG values -> float32 range in metres, 0 where missing."""
    return np.where(png == DEPTH_MISSING, 0.0, png / DEPTH_UNITS_PER_METRE).astype(np.float32)


def decode_normals(png: np.ndarray) -> np.ndarray:
    """8-bit normal PNG (H, W, 3) -> float32 unit normals, 0 where the mesh is missing (#808080)."""
    normal = png.astype(np.float64) / 127.5 - 1.0
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    valid = length > 0.5   # #808080 decodes to length 0.007; real normals to 1 +- quantisation
    return np.where(valid, normal / np.where(valid, length, 1.0), 0.0).astype(np.float32)


def halve_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3), H and W even -> uint8 (H/2, W/2, 3) of 2 x 2 means (rounded)."""
    height, width = rgb.shape[:2]
    blocks = rgb.reshape(height // 2, 2, width // 2, 2, 3).astype(np.uint16).sum(axis=(1, 3))
    return ((blocks + 2) // 4).astype(np.uint8)


def check_floor_up(normal: np.ndarray, seg: np.ndarray) -> None:
    """Raise ValueError unless the floor's normals point along +z (the vertical axis the panorama stage assumes)."""
    floor = normal[(seg == CLASS_NAMES.index("floor")) & normal.any(axis=-1)]
    if len(floor) >= 16 and np.median(floor[:, 2]) < MIN_FLOOR_UP:
        raise ValueError(f"floor normals point along {np.median(floor, axis=0).round(2).tolist()}, not +z: "
                         "the global frame is not z-up")


class Stanford2D3D(Source):
    name = "stanford2d3d"
    class_names = CLASS_NAMES

    def samples(self, raw_dir: Path, split: str) -> Iterator[tuple[str, dict | Exception]]:
        if not (raw_dir / LABELS_FILE).is_file():
            raise PixelpredError(f"{raw_dir / LABELS_FILE} is missing (assets/{LABELS_FILE} of "
                                 "github.com/alexsax/2D-3D-Semantics; run the download stage)")
        official = "test" if split == "test" else "train"
        folders = {area: pano_dir(raw_dir, area) for area in AREAS[official]}
        lookup = label_lookup(raw_dir / LABELS_FILE)
        # (area, frame name) pairs, sorted: the order of the keys.
        frames = sorted((area, path.name.removesuffix("_rgb.png")) for area, folder in folders.items()
                        for path in (folder / "rgb").glob(f"{PREFIX}*{SUFFIX}_rgb.png"))
        if official == "train":
            frames = hold_out_val(frames)[split]
        for area, frame in frames:
            key = f"stanford2d3d/{area}/{frame.removeprefix(PREFIX).removesuffix(SUFFIX)}"
            try:
                yield key, self._sample(raw_dir, folders[area], area, frame, split, lookup)
            except Exception as err:  # any reader failure on a damaged file: skip it, the stage goes on
                yield key, err

    def _sample(self, raw_dir: Path, folder: Path, area: str, frame: str, split: str, lookup: np.ndarray) -> dict:
        """One panorama's native files -> schema sample (raises on any unreadable or inconsistent file)."""
        files = {field: folder / sub / f"{frame}_{suffix}" for field, (sub, suffix) in MODALITIES.items()}
        rgb, depth = read_png(files["rgb"], "RGB"), read_png(files["depth"])
        normal, colours = read_png(files["normal"], "RGB"), read_png(files["semantic"], "RGB")
        height, width = rgb.shape[:2]
        if width != 2 * height or height % 2 or depth.shape != (height, width) or normal.shape != rgb.shape \
                or colours.shape != rgb.shape:
            raise ValueError(f"rgb {rgb.shape}, depth {depth.shape}, normals {normal.shape} and semantic "
                             f"{colours.shape}: expected one even H x 2H panorama")
        pose = json.loads(files["pose"].read_text())
        seg = decode_semantic(colours[::2, ::2], lookup)
        sample = {"rgb": halve_rgb(rgb), "depth": decode_depth(depth[::2, ::2]),
                  "normal": decode_normals(normal[::2, ::2]), "seg": seg}
        check_floor_up(sample["normal"], seg)
        uuid, _, room = frame.removeprefix(PREFIX).removesuffix(SUFFIX).partition("_")
        crop_rows = [row * (height // 2) // 1024 for row in THESIS_CROP_ROWS]    # at the stored height
        meta = {"dataset": self.name, "split": split, "area": area, "room": room, "camera_uuid": uuid,
                "camera_location": [float(v) for v in pose["camera_location"]], "height": height // 2,
                "width": width // 2, "scale": 0.5, "crop_rows": crop_rows,
                "projection": "equirectangular", "depth": "range", "normal_frame": "global",
                "source": [path.relative_to(raw_dir).as_posix() for path in files.values()]}
        return sample | {"meta": meta}


SOURCE = Stanford2D3D()
