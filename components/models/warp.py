"""Warping by a flow field, and the coordinate-flow algebra of the multigrid models (ch. 7).

Flows are N x 2 x H x W (dx, dy) in pixels on a target grid: the target's pixel p takes its value from the
source at p + flow(p) (a backward warp), with pixel centres at integer coordinates 0..W-1 (the convention of
components.data.geometry and of the synth flow). `grid_sample` is called with align_corners=True, which maps
-1 and +1 to the centres of the first and last pixel: exactly x_norm = 2x / (W - 1) - 1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def pixel_grid(height: int, width: int, like: Tensor) -> Tensor:
    """-> 1 x 2 x H x W pixel coordinates (x, y) of every pixel centre."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=like.dtype, device=like.device),
                            torch.arange(width, dtype=like.dtype, device=like.device), indexing="ij")
    return torch.stack([xs, ys])[None]


def warp(source: Tensor, flow: Tensor, padding: str = "zeros") -> Tensor:
    """Source N x C x H' x W', flow N x 2 x H x W on the target grid -> N x C x H x W: source sampled bilinearly at
    p + flow(p); outside the source zero, or the nearest edge pixel with padding="border"."""
    _, _, height, width = flow.shape
    coords = pixel_grid(height, width, flow) + flow
    src_h, src_w = source.shape[-2:]
    grid = torch.stack([2.0 * coords[:, 0] / max(src_w - 1, 1) - 1.0,
                        2.0 * coords[:, 1] / max(src_h - 1, 1) - 1.0], dim=-1)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def in_bounds(flow: Tensor) -> Tensor:
    """Flow N x 2 x H x W -> N x 1 x H x W bool: p + flow(p) lies inside the source (same size), where a warp reads
    real pixels."""
    _, _, height, width = flow.shape
    coords = pixel_grid(height, width, flow) + flow
    inside = (coords[:, 0] >= 0) & (coords[:, 0] <= width - 1) & (coords[:, 1] >= 0) & (coords[:, 1] <= height - 1)
    return inside[:, None]


def compose(residual: Tensor, accumulated: Tensor) -> Tensor:
    """Residual flow r on the target grid into an intermediate image that `accumulated` (A) warped from the source
    -> the total flow: p -> p + r(p) -> p + r(p) + A(p + r(p)), i.e. r + warp(A, r)."""
    return residual + warp(accumulated, residual)


def _length_scale(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """-> 1 x 2 x 1 x 1 factors turning lengths on flow's grid into lengths on a grid of `size` (x, then y)."""
    height, width = flow.shape[-2:]
    return torch.tensor([size[1] / width, size[0] / height], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)


def upsample_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Flow at a coarse grid -> flow at `size`, nearest-neighbour (the thesis's filter upsampling), lengths scaled
    by the resolution ratio of each axis."""
    return F.interpolate(flow, size=size, mode="nearest") * _length_scale(flow, size)


def downsample_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Flow N x 2 x H x W -> the same motion on a grid of `size` (H and W integer multiples of it): block means,
    lengths divided by the resolution ratio of each axis."""
    height, width = flow.shape[-2:]
    return F.avg_pool2d(flow, (height // size[0], width // size[1])) * _length_scale(flow, size)


def pyramid(image: Tensor, levels: int) -> list[Tensor]:
    """N x C x H x W -> [full, 1/2, ..., 1/2^(levels-1)] by 2 x 2 averaging (anti-aliased; needs H, W divisible by
    2^(levels-1))."""
    images = [image]
    for _ in range(levels - 1):
        images.append(F.avg_pool2d(images[-1], 2))
    return images
