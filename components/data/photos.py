"""The photographs scikit-image ships (`skimage.data`, SPEC §4.2): name -> uint8 H x W x 3.

They are bundled inside the scikit-image package (no download), so the restoration data builds
offline. Grey images (camera and the textures) are replicated to three channels. rocket, hubble
and retina are stored as JPEG files by scikit-image, so they already carry mild JPEG artefacts.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from skimage import data

from components.errors import PixelpredError


def _grey(load: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """Loader of a uint8 H x W image -> loader of the same image as uint8 H x W x 3."""
    return lambda: np.repeat(load()[..., None], 3, axis=2)


PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": data.astronaut,                          # 512 x 512
    "chelsea": data.chelsea,                              # 300 x 451
    "coffee": data.coffee,                                # 400 x 600
    "rocket": data.rocket,                                # 427 x 640 (JPEG source)
    "hubble": data.hubble_deep_field,                     # 872 x 1000 (JPEG source)
    "ihc": data.immunohistochemistry,                     # 512 x 512
    "motorcycle_left": lambda: data.stereo_motorcycle()[0],    # 500 x 741; a stereo pair with _right:
    "motorcycle_right": lambda: data.stereo_motorcycle()[1],   # near-duplicates, keep both on one side
    "retina": data.retina,                                # 1411 x 1411 (JPEG source, black corners)
    "color": data.colorwheel,                             # 370 x 371
    "camera": _grey(data.camera),                         # 512 x 512
    "brick": _grey(data.brick),                           # 512 x 512 texture
    "grass": _grey(data.grass),                           # 512 x 512 texture
    "gravel": _grey(data.gravel),                         # 512 x 512 texture
}


def check_photos(names: Iterable[str]) -> tuple[str, ...]:
    """Photo names -> the same names, or PixelpredError naming the unknown ones and listing the known ones."""
    names = tuple(names)
    unknown = [name for name in names if name not in PHOTOS]
    if unknown:
        raise PixelpredError(f"unknown photo(s) {', '.join(map(repr, unknown))} (known: {', '.join(PHOTOS)})")
    return names


def load_photo(name: str) -> np.ndarray:
    """Photo name -> uint8 H x W x 3 (PixelpredError for an unknown name)."""
    check_photos([name])
    image = np.ascontiguousarray(PHOTOS[name]())
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:   # guards a changed skimage.data
        raise PixelpredError(f"photo {name!r}: expected uint8 H x W x 3, got {image.dtype} {image.shape}")
    return image
