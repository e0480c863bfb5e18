"""Photo editing by reconstruction (components.tools.editing, §7.3.4): pasting, alpha and Poisson blending, mgPFF."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from components.config import BackboneConfig
from components.tools.editing import FEATHER_SIGMA, alpha_blend, edit, place, poisson_blend
from components.errors import PixelpredError
from components.models import create_model


def images() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grey-green textured target, a red source with a white stripe, a 12 x 16 rectangle of it as the mask."""
    rng = np.random.default_rng(0)
    target = np.clip(rng.normal((90, 140, 90), 12, (48, 64, 3)), 0, 255).astype(np.uint8)
    source = np.zeros((20, 24, 3), np.uint8)
    source[...] = (220, 30, 30)
    source[8:11] = 255
    mask = np.zeros((20, 24), bool)
    mask[4:16, 4:20] = True
    return target, source, mask


def test_place_pastes_the_masked_pixels_and_checks_the_fit():
    target, source, mask = images()
    pasted, placed = place(target, source, mask, (10, 6))
    assert placed.sum() == mask.sum() and placed[10, 14] and not placed[9, 14]
    np.testing.assert_array_equal(pasted[placed], source[mask])
    np.testing.assert_array_equal(pasted[~placed], target[~placed])
    with pytest.raises(PixelpredError, match="does not fit"):
        place(target, source, mask, (-4, 6))                 # the patch's left column would be at x = 0
    with pytest.raises(PixelpredError, match="no pixel"):
        place(target, source, np.zeros_like(mask), (10, 6))


def test_alpha_blending_is_a_feathered_mix():
    target, source, mask = images()
    pasted, placed = place(target, source, mask, (10, 6))
    blended = alpha_blend(target, pasted, placed).astype(float)
    alpha = gaussian_filter(placed.astype(float), FEATHER_SIGMA)[..., None]
    np.testing.assert_allclose(blended, alpha * pasted + (1 - alpha) * target, atol=0.5)
    assert alpha[placed].min() < 0.6 and alpha[12, 20] > 0.75  # the edge mostly target, the centre mostly patch


def test_poisson_blending_takes_the_targets_colour_for_a_flat_patch():
    target = np.full((40, 40, 3), (60, 120, 200), np.uint8)
    source = np.full((10, 10, 3), (250, 10, 10), np.uint8)   # no gradients inside: only the border values count
    mask = np.ones((10, 10), bool)
    mask[[0, -1]] = mask[:, [0, -1]] = False                  # seamlessClone wants a margin around the patch
    blended = poisson_blend(target, source, mask, (15, 15))
    np.testing.assert_allclose(blended.astype(int), target.astype(int), atol=2)


def test_mgpff_rebuilds_the_patch_from_target_colours_only():
    target, source, mask = images()
    model = create_model("mgpff", BackboneConfig(width=8, layers=(1, 1, 1, 1)))
    results = edit(model, target, source, mask, (10, 6))
    assert set(results) == {"pasted", "alpha", "poisson", "mgpff"}
    assert all(image.shape == target.shape and image.dtype == np.uint8 for image in results.values())
    _, placed = place(target, source, mask, (10, 6))
    # Convex combinations of target pixels (bilinear warps and sum-to-one filters): never the source's red.
    low, high = target.reshape(-1, 3).min(0), target.reshape(-1, 3).max(0)
    inside = results["mgpff"][placed]
    assert (inside >= low).all() and (inside <= high).all()
    np.testing.assert_array_equal(results["mgpff"][~placed], target[~placed])
    assert (results["alpha"][placed][:, 0] > high[0]).any()  # alpha blending keeps the red
