"""Full-image inference over overlapping tiles, seam-free for networks with a bounded receptive field.

Each tile is run with `margin` pixels of context on every side (clipped at the image border) and only its
central tile x tile region is kept. If the network's receptive-field radius is at most `margin`, every kept
pixel sees exactly the input it would see in the untiled run. Strided layers also need their sampling grid to
line up with the untiled run's: every crop edge is either an image border or a multiple of `multiple`, so a
network whose strides multiply to a divisor of `multiple` pools the same pixels together in both runs.
"""
from __future__ import annotations

from typing import Callable

from torch import Tensor


def _spans(size: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """(crop start, crop end, keep start, keep end) along one axis; the last tile may be shorter."""
    return [(max(0, start - margin), min(size, start + tile + margin), start, min(size, start + tile))
            for start in range(0, size, tile)]


def run_tiled(fn: Callable[[Tensor], Tensor], image: Tensor, tile: int, margin: int, multiple: int = 1) -> Tensor:
    """fn: N x C x h x w -> N x C' x h x w, applied to an N x C x H x W image tile by tile -> N x C' x H x W."""
    if multiple < 1 or tile < 1 or margin < 0:
        raise ValueError(f"need tile >= 1, margin >= 0, multiple >= 1; got {tile=}, {margin=}, {multiple=}")
    if tile % multiple or margin % multiple:
        raise ValueError(f"tile ({tile}) and margin ({margin}) must be multiples of {multiple} so that every tile's "
                         "stride grid lines up with the untiled image's")
    N, C, H, W = image.shape
    if H == 0 or W == 0:
        raise ValueError(f"cannot tile an empty image of shape {tuple(image.shape)}")
    out: Tensor | None = None
    for y0, y1, keep_y0, keep_y1 in _spans(H, tile, margin):
        for x0, x1, keep_x0, keep_x1 in _spans(W, tile, margin):
            result = fn(image[:, :, y0:y1, x0:x1])
            if result.shape[-2:] != (y1 - y0, x1 - x0):
                raise ValueError(f"fn changed the spatial size {(y1 - y0, x1 - x0)} -> {tuple(result.shape[-2:])}")
            if out is None:  # the output channel count is only known after the first tile
                out = result.new_empty(N, result.shape[1], H, W)
            out[:, :, keep_y0:keep_y1, keep_x0:keep_x1] = \
                result[:, :, keep_y0 - y0:keep_y1 - y0, keep_x0 - x0:keep_x1 - x0]
    assert out is not None  # H, W >= 1, so at least one tile ran
    return out
