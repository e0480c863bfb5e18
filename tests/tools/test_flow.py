"""Optical flow of any image pair with a video model, tile by tile (components.tools.flow)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from components.config import BackboneConfig
from components.data.transforms import image_tensor
from components.errors import PixelpredError
from components.models import create_model
from components.tools.flow import estimate_flow


def test_flow_of_an_image_pair_runs_tile_by_tile_and_matches_the_untiled_flow():
    torch.manual_seed(0)
    model = create_model("flownet_s", BackboneConfig(width=4, output_stride=16)).eval()
    for predict in model.predict:
        torch.nn.init.normal_(predict.weight, std=0.05)
    rng = np.random.default_rng(0)
    first, second = (rng.integers(0, 256, (40, 70, 3), dtype=np.uint8) for _ in range(2))   # not multiples of 16
    whole = estimate_flow(model, first, second, tile=128, margin=0)           # one tile: the padded untiled run
    with torch.no_grad():
        direct = model(image_tensor(np.concatenate([first, second], axis=-1)))
    np.testing.assert_allclose(whole, direct["flow"][0].permute(1, 2, 0).numpy(), atol=1e-4)
    tiled = estimate_flow(model, first, second, tile=16, margin=16)
    assert tiled.shape == (40, 70, 2) and np.isfinite(tiled).all()
    with pytest.raises(PixelpredError, match="one size"):
        estimate_flow(model, first, second[:30])
