"""Photo editing by reconstruction (§7.3.4, Fig 7.6): a source patch pasted into a target image, then fitted to it
three ways: alpha blending (a feathered mask), Poisson blending (OpenCV's `seamlessClone`, Pérez et al. 2003)
and mgPFF, which rebuilds the pasted image from the target itself. mgPFF's filters are non-negative and sum to
one, so every rebuilt pixel is a convex combination of nearby target pixels: the patch keeps its structure and
takes the target's colours and texture.

Images are uint8 H x W x 3 (RGB), masks bool H x W. Positions are (x, y) of the source's top-left corner in the
target.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from components.data.transforms import image_tensor
from components.errors import PixelpredError
from components.models.filter_flow import apply_filter_flow
from components.tools.flow import pad_to_multiple

FEATHER_SIGMA = 3.0     # alpha blending: the mask's edge softened over a few pixels


def place(target: np.ndarray, source: np.ndarray, mask: np.ndarray, at: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """-> (the target with the source's masked pixels pasted at `at`, the pasted mask on the target's grid).
    The patch must lie inside the target with a pixel to spare (Poisson blending needs a border around it)."""
    if source.shape[:2] != mask.shape:
        raise PixelpredError(f"the mask is {mask.shape[1]} x {mask.shape[0]}, the source {source.shape[1]} x {source.shape[0]}")
    ys, xs = np.nonzero(mask)
    if not len(ys):
        raise PixelpredError("the mask marks no pixel")
    x, y = at
    height, width = target.shape[:2]
    if x + xs.min() < 1 or y + ys.min() < 1 or x + xs.max() > width - 2 or y + ys.max() > height - 2:
        raise PixelpredError(f"the masked patch at {at} does not fit inside the {width} x {height} target "
                             "with a pixel to spare")
    placed = np.zeros((height, width), bool)
    placed[ys + y, xs + x] = True
    pasted = target.copy()
    pasted[ys + y, xs + x] = source[ys, xs]
    return pasted, placed


def alpha_blend(target: np.ndarray, pasted: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """The pasted image over the target through the mask feathered by a Gaussian of FEATHER_SIGMA px (outside the
    mask the two images agree, so only the inner half of the feather shows)."""
    alpha = gaussian_filter(placed.astype(np.float64), FEATHER_SIGMA)[..., None]
    return np.round(alpha * pasted + (1 - alpha) * target).astype(np.uint8)


def poisson_blend(target: np.ndarray, source: np.ndarray, mask: np.ndarray, at: tuple[int, int]) -> np.ndarray:
    """OpenCV's seamless cloning (normal clone): the source's gradients inside the mask, the target's values on
    its border. Per channel, so RGB needs no reordering."""
    ys, xs = np.nonzero(mask)
    # seamlessClone puts the centre of the mask's bounding box at `center` in the target.
    center = (int(at[0] + (xs.min() + xs.max() + 1) // 2), int(at[1] + (ys.min() + ys.max() + 1) // 2))
    return cv2.seamlessClone(np.ascontiguousarray(source), np.ascontiguousarray(target),
                             mask.astype(np.uint8) * 255, center, cv2.NORMAL_CLONE)


@torch.no_grad()
def reconstruct(model: nn.Module, image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """mgPFF: `image` rebuilt from `reference` (same size) by the finest scale's filters applied to the reference
    warped by the coarser scales' flow (Eq. 7.2) -> uint8. Padded (edge replication) to the model's multiple."""
    height, width = image.shape[:2]
    pair = image_tensor(np.concatenate([image, reference], axis=-1))
    finest = model.eval()(pad_to_multiple(pair, model.input_multiple))["scales"][-1]
    rebuilt = apply_filter_flow(finest["b_on_a"], finest["filters_a"])[0, :, :height, :width]
    return np.round(rebuilt.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def edit(model: nn.Module, target: np.ndarray, source: np.ndarray, mask: np.ndarray,
         at: tuple[int, int]) -> dict[str, np.ndarray]:
    """-> {"pasted", "alpha", "poisson", "mgpff"}: the patch pasted as is, then fitted by each method (mgPFF's
    reconstruction kept inside the mask, the target outside)."""
    pasted, placed = place(target, source, mask, at)
    rebuilt = reconstruct(model, pasted, target)
    return {"pasted": pasted, "alpha": alpha_blend(target, pasted, placed),
            "poisson": poisson_blend(target, source, mask, at),
            "mgpff": np.where(placed[..., None], rebuilt, target)}
