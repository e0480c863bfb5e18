"""The skimage.data photographs: every name loads offline as uint8 H x W x 3; unknown names list the known ones."""

import numpy as np
import pytest

from components.data.photos import PHOTOS, check_photos, load_photo
from components.errors import PixelpredError


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_every_photo_loads_as_rgb(name):
    image = load_photo(name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert min(image.shape[:2]) >= 256 and image.std() > 10


def test_grey_photos_are_replicated():
    image = load_photo("camera")
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()


def test_stereo_pair_differs():
    assert not np.array_equal(load_photo("motorcycle_left"), load_photo("motorcycle_right"))


def test_unknown_photo_lists_the_known():
    with pytest.raises(PixelpredError, match=r"unknown photo\(s\) 'lena'.*known: astronaut, chelsea"):
        check_photos(["astronaut", "lena"])
    with pytest.raises(PixelpredError, match="unknown photo"):
        load_photo("lena")
