"""Tiled inference equals untiled inference for a strided conv net when the margin covers its receptive field."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from components.train.tiling import run_tiled


def strided_net() -> nn.Module:
    """Stride-2 conv, conv at 1/2 resolution, bilinear x2 upsample, conv: 3 -> 2 channels, even sizes kept.

    Receptive-field radius in input pixels: 6 (conv3 reads +-1, bilinear one more half-resolution pixel,
    conv2 +-1 at half resolution, conv1 +-1, and the stride-2 grid costs odd rows one more), so margin 8 covers it.
    """
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                         nn.Conv2d(8, 2, 3, padding=1)).eval()


@pytest.mark.parametrize("tile", [8, 10, 12, 16, 64])
def test_tiled_equals_untiled(tile):
    net = strided_net()
    image = torch.randn(2, 3, 26, 30)
    with torch.no_grad():
        expected = net(image)
        tiled = run_tiled(net, image, tile=tile, margin=8, multiple=2)
    torch.testing.assert_close(tiled, expected, rtol=0, atol=1e-5)


def test_small_margin_shows_seams():
    """Guards the test above: with a margin below the radius the tiles do differ."""
    net = strided_net()
    image = torch.randn(1, 3, 26, 30)
    with torch.no_grad():
        assert not torch.allclose(run_tiled(net, image, tile=10, margin=4, multiple=2), net(image), atol=1e-5)


@pytest.mark.parametrize("tile,margin", [(9, 8), (10, 3), (0, 8)])
def test_rejects_tiles_off_the_stride_grid(tile, margin):
    with pytest.raises(ValueError, match="multiple|tile >= 1"):
        run_tiled(nn.Identity(), torch.zeros(1, 1, 8, 8), tile=tile, margin=margin, multiple=2)


def test_rejects_size_changing_fn():
    with pytest.raises(ValueError, match="spatial size"):
        run_tiled(nn.MaxPool2d(2), torch.zeros(1, 1, 8, 8), tile=4, margin=0)
