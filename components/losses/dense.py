"""Losses of the four dense baselines (§2.2, Eq. 2.1-2.4), with the variants of the thesis's ablations.

Normalisation: each loss is a scalar mean over the valid pixels of the whole batch (pooled, not
per image); a batch with no valid pixel gives 0 (still differentiable) instead of NaN. The
thesis writes sums over pixels; the mean only rescales the gradient and keeps the learning rate
independent of the image size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from components.errors import PixelpredError
from components.ops import squared_length, unit_vectors

DEPTH_LOSS_KINDS = ("l1_l2", "l1", "l2")            # Table 2.5: L1+L2 (thesis), L1 only, L2 only
NORMAL_LOSS_KINDS = ("cos_acos", "cos", "acos")     # Table 2.6: cos + lam*acos (thesis), cos only, acos only
BOUNDARY_LOSS_KINDS = ("balanced", "plain")         # §2.2: boundary_loss(balanced=kind == "balanced")
ACOS_EPS = 1e-6  # acos'(x) = -1/sqrt(1-x^2) is infinite at |x| = 1: clamp the cosine just inside


def _check_kind(kind: str, allowed: tuple[str, ...], loss: str) -> None:
    if kind not in allowed:
        raise PixelpredError(f"unknown {loss} loss kind '{kind}' (allowed: {', '.join(allowed)})")


def _masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Mean of `values` over the True entries of `valid` (same shape); 0 when none is valid."""
    return torch.where(valid, values, 0.0).sum() / valid.sum().clamp(min=1)


def cross_entropy_loss(logits: Tensor, target: Tensor, ignore_index: int = 255) -> Tensor:
    """Eq. 2.1: logits N x K x H x W, target N x H x W class ids -> mean -log softmax over non-ignored pixels."""
    per_pixel = F.cross_entropy(logits, target.long(), ignore_index=ignore_index, reduction="none")
    return _masked_mean(per_pixel, target != ignore_index)


def boundary_loss(side_logits: Tensor, fused_logits: Tensor, target: Tensor, balanced: bool = True) -> Tensor:
    """Eq. 2.2: side N x B x H x W + fused N x 1 x H x W logits, target N x H x W in {0, 1} -> scalar.

    The caller builds the binary target (e.g. the mean of the annotators' maps thresholded).
    Per image beta = |Y-| / |Y|: boundary pixels weigh beta, non-boundary pixels 1 - beta
    (an image without boundaries has beta = 1 and contributes nothing, as in HED).
    The weighted logistic loss is summed over the B + 1 outputs and averaged over the N*H*W pixels.
    `balanced=False` is the plain (unweighted) logistic loss.
    """
    logits = torch.cat([side_logits, fused_logits], dim=1)  # N x (B+1) x H x W
    positive = (target > 0.5).to(logits.dtype).unsqueeze(1)  # N x 1 x H x W
    weight = None
    if balanced:
        beta = 1.0 - positive.mean(dim=(1, 2, 3), keepdim=True)  # N x 1 x 1 x 1: fraction of non-boundary pixels
        weight = (positive * beta + (1.0 - positive) * (1.0 - beta)).expand_as(logits)
    per_output = F.binary_cross_entropy_with_logits(logits, positive.expand_as(logits), weight=weight,
                                                    reduction="none")
    return per_output.sum(dim=1).mean()


def log_depth_loss(log_depth_pred: Tensor, depth_gt: Tensor, kind: str = "l1_l2", gamma: float = 2.0) -> Tensor:
    """Eq. 2.3: log depth N x 1 x H x W, depth N x H x W (metres, 0 = invalid) -> mean over pixels with depth > 0.

    d = log D - log D*; "l1_l2": mean d^2 + gamma * mean |d|; "l1": mean |d|; "l2": mean d^2.
    """
    _check_kind(kind, DEPTH_LOSS_KINDS, "depth")
    prediction = log_depth_pred.squeeze(1)
    valid = depth_gt > 0
    # log of a clamped depth keeps invalid pixels finite; they are masked out anyway.
    residual = prediction - torch.log(depth_gt.clamp(min=torch.finfo(depth_gt.dtype).tiny))
    l2 = _masked_mean(residual.square(), valid)
    l1 = _masked_mean(residual.abs(), valid)
    return {"l1_l2": l2 + gamma * l1, "l1": l1, "l2": l2}[kind]


def normal_loss(normal_pred: Tensor, normal_gt: Tensor, kind: str = "cos_acos", lam: float = 4.0) -> Tensor:
    """Eq. 2.4: unit normals N x 3 x H x W vs gt N x 3 x H x W (zero = invalid) -> mean over valid pixels.

    c = n^T n* (gt re-normalised to unit length); "cos_acos": mean(-c) + lam * mean(acos c);
    "cos": mean(-c) (so a perfect prediction gives -1); "acos": mean(acos c), the angle in radians.
    The cosine is clamped to [-1 + eps, 1 - eps] inside acos so its gradient stays finite at a perfect fit.
    """
    _check_kind(kind, NORMAL_LOSS_KINDS, "normal")
    valid = squared_length(normal_gt)[:, 0] > 0  # N x H x W
    cosine = (normal_pred * unit_vectors(normal_gt)).sum(dim=1)  # N x H x W
    cos_term = _masked_mean(-cosine, valid)
    if kind == "cos":
        return cos_term
    acos_term = _masked_mean(torch.acos(cosine.clamp(-1.0 + ACOS_EPS, 1.0 - ACOS_EPS)), valid)
    return acos_term if kind == "acos" else cos_term + lam * acos_term

