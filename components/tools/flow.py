"""Optical flow between any two images from a registered video model, tile by tile (`pixelpred flow`)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from components.data.transforms import image_tensor
from components.errors import PixelpredError
from components.train.tiling import run_tiled


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """N x C x H x W -> padded at the bottom and right by edge replication to multiples of `multiple` (crop the
    model's output back to H x W)."""
    height, width = x.shape[-2:]
    return F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="replicate")


@torch.no_grad()
def estimate_flow(model: nn.Module, first: np.ndarray, second: np.ndarray, tile: int = 256,
                  margin: int = 64) -> np.ndarray:
    """Two uint8 H x W x 3 frames -> the flow (H, W, 2, pixels) of the first's pixels into the second, tile by tile
    with `margin` pixels of context (components.train.tiling), each tile padded by edge replication to the
    model's input multiple and cropped back. Motions reaching past `margin` at a tile's edge are cut off there."""
    if first.shape != second.shape or first.ndim != 3 or first.shape[2] != 3:
        raise PixelpredError(f"flow needs two RGB images of one size, got {first.shape} and {second.shape}")
    multiple = getattr(model, "input_multiple", 1)

    def flow_tile(pair: torch.Tensor) -> torch.Tensor:
        height, width = pair.shape[-2:]
        return model(pad_to_multiple(pair, multiple))["flow"][..., :height, :width]

    tile, margin = -(-tile // multiple) * multiple, -(-margin // multiple) * multiple   # round up to the stride
    pair = image_tensor(np.concatenate([first, second], axis=-1))
    return run_tiled(flow_tile, pair, tile, margin, multiple)[0].permute(1, 2, 0).numpy()
