"""Image files a user hands the tools (`restore`, `flow`, `edit`): any format Pillow reads, as uint8 RGB."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from components.errors import PixelpredError


def read_rgb(path: Path) -> np.ndarray:
    """-> uint8 H x W x 3; PixelpredError naming the file when Pillow cannot read it."""
    try:
        return np.asarray(Image.open(path).convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise PixelpredError(f"cannot read image {path}: {err}") from None
